"""Redis loses its data while a deploy's build message waits in the builder's queue (or is
held by a builder killed at that moment), and nothing is pushed afterwards: the reconciler's
sweep from git finds the service behind its branch with no build Redis knows of, and builds
and deploys it, once, with no push.

Without the sweep the deploy stays lost until somebody pushes again: the message, the run,
the event log and the detector's record of the build all went with the data."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import git
import pytest
import redis

from services.common.bus import queue_name
from services.common.events import PushReceived
from services.demo.scenario import Push
from services.reconciler.broker_state import UNACKED_KEY
from tests.workers import StagesOnSample, stages_on_sample, wait_until

VISIBILITY_TIMEOUT = 4
PERIOD = 1
MANIFEST = "k8s/manifests/user-service/deployment.yaml"


@pytest.fixture
def pipeline(
    tmp_path, redis_url, redis_client, docker_host, registry, base_image, trivy_path
) -> Iterator[StagesOnSample]:
    """Every stage, a reconciler passing every second, the sweep every 300 s (the default):
    only the wipe makes it sweep at once."""
    with stages_on_sample(
        tmp_path, redis_url, docker_host, registry, base_image, trivy_path,
        visibility_timeout=VISIBILITY_TIMEOUT,
        reconciler={"period_seconds": PERIOD},
    ) as pipeline:  # fmt: skip
        yield pipeline


def publish_push(pipeline: StagesOnSample, push: Push, run_id: str) -> None:
    runtime = pipeline.runtime
    runtime.runs.create(run_id, trigger="push", repository=pipeline.sample.name, commit=push.after)
    runtime.bus.publish(
        PushReceived(
            run_id=run_id,
            provider="manual",
            delivery_id=run_id,
            repository=pipeline.sample.name,
            ref="refs/heads/main",
            before=push.before,
            after=push.after,
        )
    )


def tag_pushes(pipeline: StagesOnSample, tag: str) -> int:
    """How many manifests the registry's tag ever pointed at (0: never pushed)."""
    root = pipeline.registry.workdir / "data/docker/registry/v2/repositories/microbank"
    index = root / "user-service/_manifests/tags" / tag / "index/sha256"
    return len(list(index.iterdir())) if index.exists() else 0


def deploy_commits(pipeline: StagesOnSample, tag: str) -> int:
    """How many gitops commits on main deployed the image tagged `tag`."""
    with git.Repo(pipeline.sample.remote) as repo:
        return sum(
            1 for c in repo.iter_commits("main") if str(c.summary).endswith(f":{tag} [skip ci]")
        )


def deploy_first(pipeline: StagesOnSample) -> None:
    """user-service deployed once: the sweep only brings back services deployed before."""
    first = pipeline.sample.change("user_service/app.py", "print('v1')\n", "user: v1")
    publish_push(pipeline, first, "sweep-1")
    tag = f"sha-{first.after[:7]}"
    wait_until(lambda: tag in pipeline.sample.remote_file(MANIFEST), 120, "the first deploy")


def test_a_build_message_lost_with_redis_s_data_deploys_with_no_push_by_the_sweep_from_git(
    pipeline: StagesOnSample, redis_client: redis.Redis
) -> None:
    sample, workers = pipeline.sample, pipeline.workers
    deploy_first(pipeline)
    workers.kill("builder")
    second = sample.change("user_service/app.py", "print('v2')\n", "user: v2")
    publish_push(pipeline, second, "sweep-2")
    wait_until(lambda: redis_client.llen(queue_name("builder")) > 0, 60, "the build queued")
    redis_client.flushall()  # the message, the run, its events and the sent build: all gone
    lost_at = time.monotonic()
    workers.start("builder")

    assert_deployed_once_by_the_sweep(pipeline, second, lost_at)


def test_a_build_held_by_a_builder_killed_as_redis_loses_its_data_deploys_by_the_sweep(
    pipeline: StagesOnSample, redis_client: redis.Redis
) -> None:
    """kombu restores a dead worker's message from its unacknowledged copy in Redis: the
    wipe takes that copy too, so only git still tells that the service is behind."""
    sample, workers = pipeline.sample, pipeline.workers
    deploy_first(pipeline)
    dockerfile = sample.remote_file("user_service/Dockerfile")
    step = f"RUN sleep 8 && echo {uuid.uuid4()}\n"  # never in the engine's layer cache
    slow = dockerfile.replace("WORKDIR /app\n", f"WORKDIR /app\n{step}", 1)
    second = sample.change("user_service/Dockerfile", slow, "build: slow")
    publish_push(pipeline, second, "sweep-2")
    wait_until(lambda: held_by_the_builder(redis_client), 60, "the build taken by a builder")
    time.sleep(2)  # building
    workers.kill("builder")
    redis_client.flushall()
    lost_at = time.monotonic()
    workers.start("builder")

    assert_deployed_once_by_the_sweep(pipeline, second, lost_at)


def held_by_the_builder(client: redis.Redis) -> bool:
    """A message of the builder's queue is kombu's unacknowledged copy: a builder has it."""
    return any(queue_name("builder").encode() in raw for raw in client.hvals(UNACKED_KEY))


def assert_deployed_once_by_the_sweep(
    pipeline: StagesOnSample, second: Push, lost_at: float
) -> None:
    sample, runtime = pipeline.sample, pipeline.runtime
    tag = f"sha-{second.after[:7]}"
    wait_until(lambda: tag in sample.remote_file(MANIFEST), 120, "the lost deploy, by the sweep")
    converged_in = time.monotonic() - lost_at
    assert tag_pushes(pipeline, tag) == 1
    assert pipeline.log.read_text().count("nothing is building") == 1
    converge = [
        run
        for run_id in runtime.redis.zrange(runtime.keyspace.runs_index, 0, -1)
        if (run := runtime.runs.get(run_id.decode())) is not None and run.trigger == "converge"
    ]
    assert len(converge) == 1, converge
    wait_until(lambda: runtime.runs.get(converge[0].run_id).status == "succeeded", 60, "its run")
    assert runtime.runs.get(converge[0].run_id).services["user-service"].image.endswith(tag)
    time.sleep(2 * PERIOD + 5)  # anything that would deploy it again has had its chance
    assert deploy_commits(pipeline, tag) == 1
    assert tag_pushes(pipeline, tag) == 1
    print(f"lost with Redis's data: deployed {converged_in:.1f}s after the loss, no push")

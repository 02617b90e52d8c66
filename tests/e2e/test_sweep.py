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

import pytest
import redis

from services.common.bus import queue_name
from services.demo.scenario import Push
from services.reconciler.broker_state import UNACKED_KEY
from tests.deploy_outcomes import (
    deploy_commits,
    image_of,
    manifest_of,
    pushes_of,
    runs_of_trigger,
)
from tests.workers import StagesOnSample, stages_on_sample, wait_until

VISIBILITY_TIMEOUT = 4
PERIOD = 1
SERVICE = "user-service"


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


def deploy_first(pipeline: StagesOnSample) -> None:
    """user-service deployed once: the sweep only brings back services deployed before."""
    first = pipeline.sample.change("user_service/app.py", "print('v1')\n", "user: v1")
    pipeline.start_run("sweep-1", first)
    tag = f"sha-{first.after[:7]}"
    wait_until(lambda: tag in manifest_of(pipeline.sample, SERVICE), 120, "the first deploy")


def test_a_build_message_lost_with_redis_s_data_deploys_with_no_push_by_the_sweep_from_git(
    pipeline: StagesOnSample, redis_client: redis.Redis
) -> None:
    sample, workers = pipeline.sample, pipeline.workers
    deploy_first(pipeline)
    workers.kill("builder")
    second = sample.change("user_service/app.py", "print('v2')\n", "user: v2")
    pipeline.start_run("sweep-2", second)
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
    pipeline.start_run("sweep-2", second)
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
    tag, image = f"sha-{second.after[:7]}", image_of(pipeline.registry, SERVICE, second.after)
    wait_until(lambda: tag in manifest_of(sample, SERVICE), 120, "the lost deploy, by the sweep")
    converged_in = time.monotonic() - lost_at
    assert pushes_of(pipeline.registry, SERVICE, tag) == 1
    assert pipeline.log.read_text().count("nothing is building") == 1
    converge = runs_of_trigger(runtime, "converge")
    assert len(converge) == 1, converge
    wait_until(lambda: runtime.runs.get(converge[0].run_id).status == "succeeded", 60, "its run")
    assert runtime.runs.get(converge[0].run_id).services["user-service"].image.endswith(tag)
    time.sleep(2 * PERIOD + 5)  # anything that would deploy it again has had its chance
    assert deploy_commits(sample, image) == 1
    assert pushes_of(pipeline.registry, SERVICE, tag) == 1
    print(f"lost with Redis's data: deployed {converged_in:.1f}s after the loss, no push")

"""A builder killed with SIGKILL in the middle of a build: the work is redelivered, once."""

from __future__ import annotations

import time

import pytest

from services.common.events import PushReceived
from services.common.runtime import Runtime
from services.demo.receiver import NotificationReceiver
from services.demo.scenario import SampleMonorepo, write_server_config
from services.devenv.registry import Registry
from tests.workers import Workers, running_stages, wait_until

VISIBILITY_TIMEOUT = 4


@pytest.fixture
def pipeline(tmp_path, redis_url, redis_client, docker_host, registry, base_image, trivy_path):
    sample = SampleMonorepo(tmp_path)
    sample.create(f"{registry.host}/microbank", base_image)
    with NotificationReceiver() as receiver:
        config = write_server_config(
            tmp_path / "server.yaml",
            sample,
            "x" * 20,
            receiver.url,
            redis_url=redis_url,
            scanner={"trivy_path": str(trivy_path)},
            visibility_timeout=VISIBILITY_TIMEOUT,
            allow_short_visibility_timeout=True,  # a killed worker's task back in seconds
            retry={"max_delay_seconds": VISIBILITY_TIMEOUT // 2},
        )
        with running_stages(config, docker_host, tmp_path / "workers.log") as (workers, runtime):
            yield sample, workers, runtime, receiver, registry


def test_a_builder_killed_mid_build_is_replaced_and_the_run_deploys_exactly_once(
    pipeline: tuple[SampleMonorepo, Workers, Runtime, NotificationReceiver, Registry],
) -> None:
    sample, workers, runtime, receiver, registry = pipeline
    dockerfile = (sample.clone / "user_service" / "Dockerfile").read_text()
    slow = dockerfile.replace("WORKDIR /app", "WORKDIR /app\nRUN sleep 3", 1)
    push = sample.change("user_service/Dockerfile", slow, "build: slower image")
    head_before = sample.remote_head().hexsha
    runtime.runs.create("kill-1", trigger="push", repository=sample.name, commit=push.after)
    runtime.bus.publish(
        PushReceived(
            run_id="kill-1",
            provider="manual",
            delivery_id="kill-1",
            repository=sample.name,
            ref="refs/heads/main",
            before=push.before,
            after=push.after,
        )
    )

    def building() -> bool:
        run = recorded.model_dump() if (recorded := runtime.runs.get("kill-1")) else {}
        timings = run.get("services", {}).get("user-service", {}).get("timings", {})
        return "started" in timings.get("builder", {})

    wait_until(building, 60, "the build to start")
    time.sleep(1)
    workers.kill("builder")
    workers.start("builder")

    wait_until(
        lambda: getattr(runtime.runs.get("kill-1"), "notified_at", None) is not None,
        120,
        "the run to finish after the builder was replaced",
    )
    run = runtime.runs.get("kill-1")
    assert run is not None and run.status == "succeeded", run
    tag = f"sha-{push.after[:7]}"
    assert (
        registry.manifest_digest("microbank/user-service", tag)
        == run.services["user-service"].digest
    )
    head = sample.remote_head()
    assert head.parents == (head_before,), "exactly one deploy commit on top of the push"
    assert tag in sample.remote_file("k8s/manifests/user-service/deployment.yaml")
    time.sleep(VISIBILITY_TIMEOUT + 1)
    notes = [b for b in receiver.received if b["run_id"] == "kill-1"]
    assert len(notes) == 1

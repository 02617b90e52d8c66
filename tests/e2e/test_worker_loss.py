"""A builder killed with SIGKILL in the middle of a build: the work is redelivered, once."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.workers import StagesOnSample, stages_on_sample, wait_until

VISIBILITY_TIMEOUT = 4  # a killed worker's task back in seconds


@pytest.fixture
def pipeline(
    tmp_path, redis_url, redis_client, docker_host, registry, base_image, trivy_path
) -> Iterator[StagesOnSample]:
    """The stages on a fresh sample, on a Redis emptied first (`redis_client`)."""
    with stages_on_sample(
        tmp_path, redis_url, docker_host, registry, base_image, trivy_path,
        visibility_timeout=VISIBILITY_TIMEOUT,
    ) as pipeline:  # fmt: skip
        yield pipeline


def test_a_builder_killed_mid_build_is_replaced_and_the_run_deploys_exactly_once(
    pipeline: StagesOnSample,
) -> None:
    sample, workers, runtime = pipeline.sample, pipeline.workers, pipeline.runtime
    dockerfile = (sample.clone / "user_service" / "Dockerfile").read_text()
    slow = dockerfile.replace("WORKDIR /app", "WORKDIR /app\nRUN sleep 3", 1)
    push = sample.change("user_service/Dockerfile", slow, "build: slower image")
    head_before = sample.remote_head().hexsha
    pipeline.start_run("kill-1", push)

    def building() -> bool:
        run = recorded.model_dump() if (recorded := runtime.runs.get("kill-1")) else {}
        timings = run.get("services", {}).get("user-service", {}).get("timings", {})
        return "started" in timings.get("builder", {})

    wait_until(building, 60, "the build to start")
    time.sleep(1)
    workers.kill("builder")
    workers.start("builder")

    wait_until(
        lambda: pipeline.notified("kill-1"),
        120,
        "the run to finish after the builder was replaced",
    )
    pipeline.assert_deployed_once("kill-1", push, "user-service", head_before)
    time.sleep(VISIBILITY_TIMEOUT + 1)
    notes = [b for b in pipeline.receiver.received if b["run_id"] == "kill-1"]
    assert len(notes) == 1

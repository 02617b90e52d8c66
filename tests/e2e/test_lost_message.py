"""A message Redis lost (neither queued nor unacknowledged any more, as when a worker is
killed between kombu's BRPOP and its recording the message as unacked) is re-sent by the
reconciler, and the run finishes as if nothing had happened: deployed once, notified once."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis

from services.common.bus import queue_name
from services.reconciler.broker_state import task_id_of_message
from tests.workers import PIPELINE, StagesOnSample, stages_on_sample, wait_until

VISIBILITY_TIMEOUT = 4
PERIOD = 1


@pytest.fixture
def pipeline(
    tmp_path, redis_url, redis_client, docker_host, registry, base_image, trivy_path
) -> Iterator[StagesOnSample]:
    """Every stage but the builder (the test starts it once the message is gone), and a
    reconciler passing every second, on a Redis emptied first (`redis_client`)."""
    with stages_on_sample(
        tmp_path, redis_url, docker_host, registry, base_image, trivy_path,
        visibility_timeout=VISIBILITY_TIMEOUT,
        stages=[stage for stage in PIPELINE if stage != "builder"],
        reconciler={"period_seconds": PERIOD},
    ) as pipeline:  # fmt: skip
        yield pipeline


def delete_queued(client: redis.Redis, stage: str, timeout: float) -> str:
    """Wait for a message in the stage's queue and delete it; its task id."""
    queue = queue_name(stage)
    wait_until(lambda: client.llen(queue) > 0, timeout, f"a message in {queue}")
    raw = client.lindex(queue, 0)
    assert raw is not None and client.lrem(queue, 1, raw) == 1
    task = task_id_of_message(raw)
    assert task is not None
    return task


def test_a_build_message_deleted_from_its_queue_is_re_driven_and_the_run_deploys_once(
    pipeline: StagesOnSample,
    redis_client: redis.Redis,
) -> None:
    sample, workers = pipeline.sample, pipeline.workers
    push = sample.change("user_service/app.py", "print('v2')\n", "user: v2")
    head_before = sample.remote_head().hexsha
    pipeline.start_run("lost-1", push)
    lost_task = delete_queued(redis_client, "builder", 60)
    lost_at = time.monotonic()
    workers.start("builder")

    wait_until(
        lambda: pipeline.notified("lost-1"),
        VISIBILITY_TIMEOUT + PERIOD + 60,  # re-driven, then built, scanned and committed
        "the run to finish although its build message was deleted",
    )
    finished_in = time.monotonic() - lost_at
    deployed = pipeline.assert_deployed_once("lost-1", push, "user-service", head_before)
    log = pipeline.log.read_text()
    assert log.count("lost message re-driven") == 1, "one re-drive, by the one leader"
    assert lost_task in log
    time.sleep(VISIBILITY_TIMEOUT + PERIOD + 1)
    assert len([b for b in pipeline.receiver.received if b["run_id"] == "lost-1"]) == 1
    assert sample.remote_head().hexsha == deployed, "deployed once"
    print(f"lost build message: run finished {finished_in:.1f}s after the loss")

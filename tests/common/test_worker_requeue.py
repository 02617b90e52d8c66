"""A worker whose handler hits a Redis error queues the event again, even when Redis came
back without its data (a restart without persistence), where kombu's own copy is gone."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from celery.contrib.testing.worker import start_worker

from services.common.bus import queue_name
from services.common.events import Envelope, RunCompleted, StageFailed
from services.common.runtime import Runtime
from services.common.settings import Settings
from services.common.stage import Handler, StageDefinition
from services.common.worker import register_stage


@pytest.fixture
def runtime(redis_url: str, redis_client: redis.Redis, tmp_path: Path) -> Iterator[Runtime]:
    runtime = Runtime(Settings(redis_url=redis_url, workdir=tmp_path))
    yield runtime
    runtime.celery.close()
    runtime.redis.close()


def refused_once(client: redis.Redis, handled: list[str], wipe: bool) -> StageDefinition:
    """A notifier whose first failure event finds the connection refused (and Redis wiped)."""

    def factory(_: Runtime) -> Handler:
        def handle(event: Envelope) -> tuple[Envelope, ...]:
            if isinstance(event, StageFailed):
                handled.append(event.message)
                if len(handled) == 1:
                    if wipe:
                        client.flushall()
                    raise redis.ConnectionError("Connection refused")
            return ()

        return handle

    return StageDefinition(
        name="notifier",
        consumes=(StageFailed, RunCompleted),
        factory=factory,
        tracks_service=False,
        reports_failures=False,
    )


@pytest.mark.parametrize("wipe", [True, False], ids=["redis-wiped", "redis-kept-its-data"])
def test_an_event_whose_handler_met_a_redis_error_is_handled_again_once_even_after_a_wipe(
    runtime: Runtime, redis_client: redis.Redis, wipe: bool
) -> None:
    handled: list[str] = []
    register_stage(runtime.celery, runtime, refused_once(redis_client, handled, wipe))
    with start_worker(
        runtime.celery,
        perform_ping_check=False,
        queues=[queue_name("notifier")],
        shutdown_timeout=30,
    ):
        runtime.bus.publish(
            StageFailed(run_id="run-1", stage="builder", error_class="E", message="m")
        )
        deadline = time.monotonic() + 20
        while len(handled) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1)  # a second copy would be handled by now

    assert handled == ["m", "m"]
    assert redis_client.llen(queue_name("notifier")) == 0
    assert redis_client.hlen("unacked") == 0  # no copy left for the visibility sweep

"""Auto-promotions started on a real Redis: once per landing however often it is delivered,
and a soaking one only when it is due (services/common/auto_promotion_runs.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from services.common.auto_promotion import auto_promotions
from services.common.auto_promotion_runs import AutoPromotionRuns
from services.common.bus import queue_name
from services.common.keyspace import DEFAULT_KEYSPACE
from services.common.runtime import Runtime
from services.common.settings import Settings
from tests.common.test_auto_promotion import STAGING_THEN_AUTO, committed, project

COMMITTER = queue_name("committer")


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def runtime(redis_url: str, redis_client: redis.Redis, tmp_path: Path) -> Iterator[Runtime]:
    runtime = Runtime(Settings(redis_url=redis_url, workdir=tmp_path))
    yield runtime
    runtime.celery.close()
    runtime.redis.close()


def starts(runtime: Runtime, clock: Clock) -> AutoPromotionRuns:
    return AutoPromotionRuns(runtime.redis, DEFAULT_KEYSPACE, runtime.runs, runtime.bus, clock)


def queued_ids(client: redis.Redis) -> list[str]:
    return [json.loads(m)["headers"]["id"] for m in client.lrange(COMMITTER, 0, -1)]


def test_a_landing_delivered_twice_starts_one_run_and_queues_one_request(
    runtime: Runtime, redis_client: redis.Redis
) -> None:
    event = committed()
    [promotion] = auto_promotions(project(STAGING_THEN_AUTO), event, {})
    runs = starts(runtime, Clock(event.occurred_at.timestamp()))

    runs.request(promotion)
    runs.request(auto_promotions(project(STAGING_THEN_AUTO), event, {})[0])  # redelivered

    request = promotion.request
    assert queued_ids(redis_client) == [str(request.event_id)]
    run = runtime.runs.get(request.run_id)
    assert run is not None and run.trigger == "promotion"
    assert run.pusher == "shipline (auto-promotion)"
    assert list(run.services) == ["api"]


def test_a_soaking_promotion_is_queued_only_once_due_and_once(
    runtime: Runtime, redis_client: redis.Redis
) -> None:
    event = committed()
    config = project(STAGING_THEN_AUTO + "    soak_seconds: 60\n")
    [promotion] = auto_promotions(config, event, {})
    landed = event.occurred_at.timestamp()
    clock = Clock(landed + 1)
    runs = starts(runtime, clock)

    runs.request(promotion)
    clock.now = landed + 30
    runs.request(auto_promotions(config, event, {})[0])  # redelivered: the time does not move

    assert runs.start_due() == 0
    assert queued_ids(redis_client) == []
    assert runtime.runs.get(promotion.request.run_id) is None
    assert runs.soaking() == 1

    clock.now = landed + 60
    assert runs.start_due() == 1
    assert runs.start_due() == 0
    assert runs.soaking() == 0
    assert queued_ids(redis_client) == [str(promotion.request.event_id)]

    runs.request(promotion)  # a landing delivered again after its soak: published already
    assert queued_ids(redis_client) == [str(promotion.request.event_id)]


def test_a_landing_delivered_after_its_soak_is_over_is_started_at_once(
    runtime: Runtime, redis_client: redis.Redis
) -> None:
    event = committed()
    [promotion] = auto_promotions(project(STAGING_THEN_AUTO + "    soak_seconds: 5\n"), event, {})
    runs = starts(runtime, Clock(event.occurred_at.timestamp() + 6))

    runs.request(promotion)

    assert runs.soaking() == 0
    assert queued_ids(redis_client) == [str(promotion.request.event_id)]

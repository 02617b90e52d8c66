"""The bus when Redis loses its data (FLUSHALL, a restart without persistence, a failover to
an empty replica): no message depends on kombu's routing bindings, which go with the data."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from services.common.bus import queue_name
from services.common.events import Envelope, StageFailed, decode_event
from services.common.runtime import Runtime
from services.common.settings import Settings

QUEUE = queue_name("notifier")  # where StageFailed goes


@pytest.fixture
def runtime(redis_url: str, redis_client: redis.Redis, tmp_path: Path) -> Iterator[Runtime]:
    runtime = Runtime(Settings(redis_url=redis_url, workdir=tmp_path))
    yield runtime
    runtime.celery.close()
    runtime.redis.close()


def failure(message: str) -> StageFailed:
    return StageFailed(run_id="run-wipe", stage="builder", error_class="Boom", message=message)


def queued(client: redis.Redis) -> list[str]:
    """The failures waiting in the notifier's queue, oldest first, by their messages (the
    run's RunCompleted that each one brings is left out)."""
    events = [event_of(json.loads(item)) for item in reversed(client.lrange(QUEUE, 0, -1))]
    return [event.message for event in events if isinstance(event, StageFailed)]


def event_of(task_message: dict[str, Any]) -> Envelope:
    args, _, _ = json.loads(base64.b64decode(task_message["body"]))
    return decode_event(args[0])


def test_an_event_published_after_redis_lost_its_data_reaches_its_stages_queue(
    runtime: Runtime, redis_client: redis.Redis
) -> None:
    runtime.bus.publish(failure("before"))
    redis_client.flushall()

    runtime.bus.publish(failure("after"))

    assert queued(redis_client) == ["after"]
    assert runtime.runs.get("run-wipe") is not None


def test_publishing_declares_nothing_so_it_leaves_no_routing_binding_to_lose(
    runtime: Runtime, redis_client: redis.Redis
) -> None:
    runtime.bus.publish(failure("one"))
    runtime.bus.publish(failure("two"))

    assert queued(redis_client) == ["one", "two"]
    assert redis_client.keys("_kombu*") == []
    delivery = json.loads(redis_client.lindex(QUEUE, 0))["properties"]["delivery_info"]
    assert delivery == {"exchange": "", "routing_key": QUEUE}


def test_a_taken_message_put_back_returns_to_its_queue_with_no_binding_in_redis(
    runtime: Runtime, redis_client: redis.Redis
) -> None:
    """What a worker's requeue (Redis failed mid-task) and kombu's restore of a dead worker's
    message do: they route by the message's delivery info, here the queue's own name."""
    runtime.bus.publish(failure("taken"))
    assert redis_client.keys("_kombu.binding*") == []
    with runtime.celery.connection_for_read() as connection:
        channel = connection.default_channel
        message = channel.basic_get(QUEUE, no_ack=False)
        assert message is not None
        assert queued(redis_client) == []

        message.requeue()

    assert queued(redis_client) == ["taken"]

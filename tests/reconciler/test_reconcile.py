"""A reconciler pass on a real Redis and the real bus: a message deleted from its queue is
re-sent to its stage, once; a delivery queued, unacknowledged, claimed, done or young is
left alone. No worker runs, so every message stays where the test puts it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
import redis

from services.common.bus import queue_name
from services.common.events import Envelope, RunCompleted
from services.common.runtime import Runtime
from services.common.settings import Settings
from services.reconciler.background import build_reconciler
from services.reconciler.broker_state import UNACKED_KEY, task_id_of_message
from services.reconciler.reconcile import Reconciler
from tests.reconciler.events import change, push

VISIBILITY = 2


@pytest.fixture
def runtime(redis_url: str, redis_client: redis.Redis, tmp_path) -> Iterator[Runtime]:
    settings = Settings(
        redis_url=redis_url,
        workdir=tmp_path,
        visibility_timeout=VISIBILITY,
        allow_short_visibility_timeout=True,
        retry={"max_delay_seconds": 1},
    )
    runtime = Runtime(settings)
    declare_queues(runtime)
    yield runtime
    runtime.celery.close()
    runtime.redis.close()


def declare_queues(runtime: Runtime) -> None:
    """Bind the stage queues again: redis_client emptied Redis, and kombu remembers
    (per connection, in its process-wide pool) having bound them for an earlier test."""
    with runtime.celery.connection_for_write() as connection:
        for queue in runtime.celery.amqp.queues.values():
            queue(connection.default_channel).declare()


@pytest.fixture
def reconciler(runtime: Runtime) -> Reconciler:
    return build_reconciler(runtime, runtime.redis, runtime.celery)


def started(runtime: Runtime, run_id: str = "run-1") -> Envelope:
    trigger = push(run_id)
    runtime.runs.create(run_id, trigger="push", repository="acme/microbank")
    runtime.bus.publish(trigger)
    return trigger


def queued_task_ids(client: redis.Redis, stage: str) -> list[str | None]:
    return [task_id_of_message(raw) for raw in client.lrange(queue_name(stage), 0, -1)]


def take_message(client: redis.Redis, stage: str, task_id: str) -> bytes:
    """The stage's queued message of `task_id`, taken off its queue as BRPOP would."""
    for raw in client.lrange(queue_name(stage), 0, -1):
        if task_id_of_message(raw) == task_id:
            client.lrem(queue_name(stage), 1, raw)
            return raw
    raise AssertionError(f"no message of task {task_id} in {queue_name(stage)}")


def test_a_message_deleted_from_its_queue_is_re_sent_to_its_stage_once_with_its_task_id(
    runtime: Runtime, reconciler: Reconciler, redis_client: redis.Redis
) -> None:
    trigger = started(runtime)
    task = str(trigger.event_id)
    take_message(redis_client, "detector", task)
    assert reconciler.pass_once().redriven == []  # young: it may be in a worker's hands
    time.sleep(VISIBILITY + 0.5)

    report = reconciler.pass_once()

    assert [(d.task_id, d.stage) for d in report.redriven] == [(task, "detector")]
    assert queued_task_ids(redis_client, "detector") == [task]
    take_message(redis_client, "detector", task)  # lost again, at once
    assert reconciler.pass_once().redriven == [], "re-driven at most once a visibility timeout"
    time.sleep(VISIBILITY + 0.5)
    assert len(reconciler.pass_once().redriven) == 1
    run = runtime.runs.get("run-1")
    assert run is not None and run.status == "queued", "the run store is not written"


def test_a_delivery_queued_unacked_claimed_or_done_is_left_alone(
    runtime: Runtime, reconciler: Reconciler, redis_client: redis.Redis
) -> None:
    keys = runtime.keyspace
    started(runtime, "queued")
    unacked = started(runtime, "unacked")
    message = take_message(redis_client, "detector", str(unacked.event_id))
    held = json.dumps([json.loads(message), queue_name("detector"), queue_name("detector")])
    redis_client.hset(UNACKED_KEY, "a-delivery-tag", held)  # as kombu records a worker's
    claimed = started(runtime, "claimed")
    take_message(redis_client, "detector", str(claimed.event_id))
    redis_client.set(keys.stage_claim("detector", claimed.event_id), 1)
    done = started(runtime, "done")
    take_message(redis_client, "detector", str(done.event_id))
    redis_client.set(keys.stage_done("detector", done.event_id), 1)
    lost = started(runtime, "lost")
    take_message(redis_client, "detector", str(lost.event_id))
    time.sleep(VISIBILITY + 0.5)

    report = reconciler.pass_once()

    assert report.runs == 5
    assert [d.event.run_id for d in report.redriven] == ["lost"]


def test_each_service_s_newest_event_is_re_sent_to_the_stage_that_consumes_it(
    runtime: Runtime, reconciler: Reconciler, redis_client: redis.Redis
) -> None:
    trigger = started(runtime)
    take_message(redis_client, "detector", str(trigger.event_id))
    redis_client.set(runtime.keyspace.stage_done("detector", trigger.event_id), 1)
    built = change("user-service")
    runtime.bus.publish(built)
    take_message(redis_client, "builder", str(built.event_id))
    time.sleep(VISIBILITY + 0.5)

    report = reconciler.pass_once()

    assert [(d.event.event_id, d.stage) for d in report.redriven] == [(built.event_id, "builder")]
    assert queued_task_ids(redis_client, "builder") == [str(built.event_id)]
    assert queued_task_ids(redis_client, "detector") == []


def test_a_run_that_ended_is_no_longer_followed(
    runtime: Runtime, reconciler: Reconciler, redis_client: redis.Redis
) -> None:
    trigger = started(runtime)
    take_message(redis_client, "detector", str(trigger.event_id))
    assert reconciler.pass_once().runs == 1
    runtime.bus.publish(RunCompleted(run_id="run-1", status="skipped"))
    redis_client.delete(queue_name("notifier"))
    time.sleep(VISIBILITY + 0.5)

    report = reconciler.pass_once()

    assert report.runs == 0 and report.redriven == []
    assert redis_client.zcard(runtime.keyspace.reconciler_runs) == 0

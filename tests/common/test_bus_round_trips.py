"""Bus.publish in one round trip to Redis (run store, event log and queue in one script), on
a real Redis: counted on the wire, with the run recovery, the log's dedup and the queued
task message (the one kombu queues, run by a real Celery worker) as they were."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from celery.contrib.testing.worker import start_worker

from services.common.bus import (
    Bus,
    queue_name,
    stages_for,
    task_argsrepr,
    task_id,
    task_name,
)
from services.common.eventlog import EventLog
from services.common.events import (
    DeploymentFailed,
    Envelope,
    RunCompleted,
    StageFailed,
    encode_event,
)
from services.common.keyspace import DEFAULT_KEYSPACE
from services.common.runs import RunStore
from services.common.runtime import Runtime
from services.common.settings import Settings
from services.common.stage import Handler, StageDefinition
from services.common.worker import register_stage
from services.devenv.redis_server import RedisServer
from tests.common.test_runs import RUN, change_detected, image_pushed, planned, scan_passed
from tests.common.test_runs_verification import committed, verdict

BUILDER, SCANNER, NOTIFIER = queue_name("builder"), queue_name("scanner"), queue_name("notifier")


class RoundTrips:
    """Counts what a client sends to Redis: one write of one command or of one pipeline,
    each answered before the next (a round trip)."""

    def __init__(self, client: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        pool = client.connection_pool
        base: Any = pool.connection_class
        counter = self

        class Counted(base):  # type: ignore[misc, valid-type]
            def send_packed_command(self, command: Any, check_health: bool = True) -> None:
                counter.count += 1
                super().send_packed_command(command, check_health)

        pool.disconnect()
        monkeypatch.setattr(pool, "connection_class", Counted)

    def of(self, publish: Any, *args: Any) -> int:
        before = self.count
        publish(*args)
        return self.count - before


@pytest.fixture
def runtime(redis_url: str, redis_client: redis.Redis, tmp_path: Path) -> Iterator[Runtime]:
    runtime = Runtime(Settings(redis_url=redis_url, workdir=tmp_path))
    yield runtime
    runtime.celery.close()
    runtime.redis.close()


@pytest.fixture
def counted(
    runtime: Runtime, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Bus, RoundTrips]]:
    client = redis.Redis.from_url(redis_url)
    trips = RoundTrips(client, monkeypatch)
    bus = Bus(runtime.celery, RunStore(client), EventLog(client))
    bus.publish(StageFailed(run_id="warm-up", stage="builder", error_class="E", message="m"))
    yield bus, trips
    client.close()


def queued(client: redis.Redis, queue: str) -> list[dict[str, Any]]:
    return [json.loads(item) for item in reversed(client.lrange(queue, 0, -1))]


def event_id_of(message: dict[str, Any]) -> str:
    args, _, _ = json.loads(base64.b64decode(message["body"]))
    return str(json.loads(args[0])["event_id"])


def test_each_stage_event_is_projected_logged_and_queued_in_one_round_trip(
    counted: tuple[Bus, RoundTrips], runtime: Runtime, redis_client: redis.Redis
) -> None:
    bus, trips = counted
    planned(runtime.runs, "user-service")
    events = [change_detected("user-service"), image_pushed("user-service")]
    events.append(scan_passed("user-service"))

    assert [trips.of(bus.publish, event) for event in events] == [1, 1, 1]

    service = runtime.runs.get(RUN).services["user-service"]  # type: ignore[union-attr]
    assert (service.stage, service.status) == ("scanner", "running")
    logged = [entry["event_id"] for _, entry in runtime.event_log.for_run(RUN)]
    assert logged == [str(event.event_id) for event in events]
    assert [event_id_of(m) for m in queued(redis_client, BUILDER)] == [str(events[0].event_id)]
    assert [event_id_of(m) for m in queued(redis_client, SCANNER)] == [str(events[1].event_id)]


def test_a_run_lost_with_redis_data_is_recreated_within_the_same_round_trip(
    counted: tuple[Bus, RoundTrips], runtime: Runtime, redis_client: redis.Redis
) -> None:
    bus, trips = counted
    planned(runtime.runs, "user-service", "cart")
    redis_client.flushall()

    assert trips.of(bus.publish, image_pushed("user-service")) == 1

    run = runtime.runs.get(RUN)
    assert run is not None and run.trigger == "recovered"
    assert list(run.services) == ["user-service"]
    assert [r.run_id for r in runtime.runs.list()] == [RUN]
    assert len(queued(redis_client, SCANNER)) == 1


def test_an_event_published_again_is_queued_again_but_logged_once_in_one_round_trip_each(
    counted: tuple[Bus, RoundTrips], runtime: Runtime, redis_client: redis.Redis
) -> None:
    bus, trips = counted
    planned(runtime.runs, "user-service")
    pushed = image_pushed("user-service")

    assert [trips.of(bus.publish, pushed), trips.of(bus.publish, pushed)] == [1, 1]

    assert len(runtime.event_log.for_run(RUN)) == 1
    assert [event_id_of(m) for m in queued(redis_client, SCANNER)] == [str(pushed.event_id)] * 2


def test_the_event_that_completes_a_run_also_reads_it_back_to_summarise_it(
    counted: tuple[Bus, RoundTrips], runtime: Runtime, redis_client: redis.Redis
) -> None:
    """Its RunCompleted is a publish of its own (one round trip); reading the run is the
    price of the summary, paid once per run."""
    bus, trips = counted
    failed = StageFailed(run_id="run-alone", stage="detector", error_class="E", message="m")

    trips_taken = trips.of(bus.publish, failed)

    reads = 3  # the run's hash, its services (none), and the RunCompleted's publish
    assert trips_taken == 1 + reads
    summaries = [
        m for m in queued(redis_client, NOTIFIER) if "run-alone" in m["headers"]["argsrepr"]
    ]
    assert [m["headers"]["argsrepr"] for m in summaries] == [
        "(StageFailed of run run-alone)",
        "(RunCompleted of run run-alone)",
    ]


def _normalised(raw: bytes) -> dict[str, Any]:
    message = json.loads(raw)
    message["properties"].pop("delivery_tag")
    message["properties"].pop("argsrepr", None)  # send_task copies it there; nothing reads it
    message["body"] = json.loads(base64.b64decode(message["body"]))
    return message


def sent_by_kombu(runtime: Runtime, client: redis.Redis, event: Envelope) -> list[bytes]:
    """What Celery's send_task (kombu's Redis transport) queued for `event`, per stage, as
    publish sent it before it wrote the message itself."""
    messages = []
    for index, stage in enumerate(stages_for(event)):
        queue = queue_name(stage)
        client.delete(queue)
        runtime.celery.send_task(
            task_name(stage),
            args=[encode_event(event)],
            queue=queue,
            exchange="",
            routing_key=queue,
            declare=[],
            task_id=task_id(event, index, stage),
            argsrepr=task_argsrepr(event),
        )
        messages += client.lrange(queue, 0, -1)
    return messages


def test_the_queued_messages_are_what_celery_send_task_queues_for_the_event(
    runtime: Runtime, redis_client: redis.Redis
) -> None:
    """One stage (StageFailed) and two (a failed rollout with automatic rollback goes to the
    notifier and the committer, the second task id naming its stage)."""
    rollout = committed(auto_rollback=True)
    failed_rollout = verdict(
        DeploymentFailed, condition="Degraded", reason="Degraded", auto_rollback=True
    )
    failed = StageFailed(run_id="run-kombu", stage="builder", error_class="E", message="m")
    for event in (failed, failed_rollout):
        runtime.bus.publish(rollout)
        queues = [queue_name(stage) for stage in stages_for(event)]
        redis_client.delete(*queues)
        runtime.bus.publish(event)
        ours = [
            m for q in queues for m in redis_client.lrange(q, 0, -1) if event.type.encode() in m
        ]

        assert [_normalised(m) for m in ours] == [
            _normalised(m) for m in sent_by_kombu(runtime, redis_client, event)
        ]
        assert len(ours) == len(queues)


def test_a_celery_worker_runs_the_stage_with_the_event_a_publish_queued(
    runtime: Runtime, redis_client: redis.Redis
) -> None:
    handled: list[tuple[str, str]] = []

    def factory(_: Runtime) -> Handler:
        def handle(event: Envelope) -> tuple[Envelope, ...]:
            if isinstance(event, StageFailed):
                handled.append((str(event.event_id), event.message))
            return ()

        return handle

    notifier = StageDefinition(
        name="notifier",
        consumes=(StageFailed, RunCompleted),
        factory=factory,
        tracks_service=False,
        reports_failures=False,
    )
    register_stage(runtime.celery, runtime, notifier)
    failed = StageFailed(run_id="run-worker", stage="builder", error_class="E", message="é ✓")
    with start_worker(
        runtime.celery, perform_ping_check=False, queues=[NOTIFIER], shutdown_timeout=30
    ):
        runtime.bus.publish(failed)
        deadline = time.monotonic() + 20

        def drained() -> bool:  # the RunCompleted the failure's projection queued, too
            return redis_client.llen(NOTIFIER) == 0 and redis_client.hlen("unacked") == 0

        while not (handled and drained()) and time.monotonic() < deadline:
            time.sleep(0.1)

    assert handled == [(str(failed.event_id), "é ✓")]
    assert redis_client.llen(NOTIFIER) == 0
    assert redis_client.hlen("unacked") == 0  # acknowledged
    assert redis_client.exists(DEFAULT_KEYSPACE.event_logged(failed.event_id))


def test_publishing_on_the_oldest_supported_redis_recovers_logs_once_and_queues(
    tmp_path: Path, redis_6_2_binary: Path
) -> None:
    """Redis 6.2: the script's commands (SET NX EX, XADD MAXLEN ~, cjson) as it has them."""
    with RedisServer(tmp_path / "redis", binary=redis_6_2_binary) as server:
        assert server.version.startswith("Redis 6.2.")
        runtime = Runtime(Settings(redis_url=server.url, workdir=tmp_path))
        pushed = image_pushed("user-service")

        runtime.bus.publish(pushed)
        runtime.bus.publish(pushed)

        run = runtime.runs.get(RUN)
        assert run is not None and run.trigger == "recovered"
        assert run.services["user-service"].digest == pushed.digest
        assert len(runtime.event_log.for_run(RUN)) == 1
        assert [event_id_of(m) for m in queued(runtime.redis, SCANNER)] == [
            str(pushed.event_id)
        ] * 2
        runtime.celery.close()
        runtime.redis.close()

"""The stage runner every worker wraps its handler in, on a real Redis and the real bus."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence

import pytest
import redis

from services.common.bus import queue_name, task_name
from services.common.errors import PermanentError, TransientError
from services.common.events import (
    Envelope,
    ImagePushed,
    RunCompleted,
    ScanPassed,
    Source,
    StageFailed,
    decode_event,
    encode_event,
)
from services.common.keyspace import DEFAULT_KEYSPACE
from services.common.runtime import Runtime
from services.common.settings import Settings
from services.common.stage import Handler, RetryLater, StageDefinition, StageRunner, backoff

COMMIT = "0123456789abcdef0123456789abcdef01234567"
SOURCE = Source(repository="acme/microbank", commit=COMMIT, ref="refs/heads/main")
SERVICE = "user-service"
MAX_RETRIES = 2

Factory = Callable[[Runtime], Handler]


@pytest.fixture
def runtime(redis_url: str, redis_client: redis.Redis, tmp_path) -> Iterator[Runtime]:
    runtime = Runtime(Settings(redis_url=redis_url, workdir=tmp_path, max_retries=MAX_RETRIES))
    yield runtime
    if "celery" in runtime.__dict__:
        runtime.celery.close()
    runtime.redis.close()


def image_pushed(run_id: str = "run-1", service: str = SERVICE) -> ImagePushed:
    return ImagePushed(
        run_id=run_id,
        service=service,
        source=SOURCE,
        image_repository=f"127.0.0.1:5000/microbank/{service}",
        tags=("sha-0123456", "latest"),
        digest="sha256:" + "ab" * 32,
    )


def scan_passed(image: ImagePushed) -> ScanPassed:
    return ScanPassed(
        event_id=image.follow_up_id("ScanPassed"),
        run_id=image.run_id,
        service=image.service,
        source=image.source,
        image_repository=image.image_repository,
        tags=image.tags,
        digest=image.digest,
        counts={"CRITICAL": 0},
        policy="CRITICAL blocks",
    )


# --- handler factories: what a stage supplies ---------------------------------------


def passing_scanner(calls: list[Envelope]) -> Factory:
    """Records each event it is given and answers ScanPassed for it."""

    def factory(_: Runtime) -> Handler:
        def handle(event: Envelope) -> Sequence[Envelope]:
            calls.append(event)
            assert isinstance(event, ImagePushed)
            return (scan_passed(event),)

        return handle

    return factory


def raising(error: Exception, calls: list[Envelope]) -> Factory:
    """Records each event it is given and raises ``error``."""

    def factory(_: Runtime) -> Handler:
        def handle(event: Envelope) -> Sequence[Envelope]:
            calls.append(event)
            raise error

        return handle

    return factory


def slow_silent(calls: list[Envelope], seconds: float) -> Factory:
    """Records each event, takes ``seconds`` and produces nothing."""

    def factory(_: Runtime) -> Handler:
        def handle(event: Envelope) -> Sequence[Envelope]:
            calls.append(event)
            time.sleep(seconds)
            return ()

        return handle

    return factory


def scanner(factory: Factory, **options: bool) -> StageDefinition:
    return StageDefinition(name="scanner", consumes=(ImagePushed,), factory=factory, **options)


# --- what the bus really holds -------------------------------------------------------


def queued(redis_client: redis.Redis, stage: str) -> list[Envelope]:
    """The events waiting on a stage's Celery queue, in delivery order.

    Kombu LPUSHes and RPOPs, so the list holds the oldest message last; each message is
    JSON whose base64 ``body`` is ``[args, kwargs, embed]``.
    """
    events = []
    for raw in reversed(redis_client.lrange(queue_name(stage), 0, -1)):
        message = json.loads(raw)
        assert message["headers"]["task"] == task_name(stage)
        args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        events.append(decode_event(args[0]))
    return events


def logged(redis_client: redis.Redis) -> list[Envelope]:
    return [
        decode_event(fields[b"event"]) for _, fields in redis_client.xrange(DEFAULT_KEYSPACE.events)
    ]


def failures(redis_client: redis.Redis) -> list[StageFailed]:
    return [e for e in logged(redis_client) if isinstance(e, StageFailed)]


def planned_run(runtime: Runtime, run_id: str = "run-1", services: tuple[str, ...] = (SERVICE,)):
    runtime.runs.create(run_id, trigger="push", repository="acme/microbank", commit=COMMIT)
    runtime.runs.plan(run_id, list(services))


def delivered_from_queue(runtime: Runtime, redis_client: redis.Redis, event: Envelope) -> str:
    """Publish ``event`` as the previous stage would and return the payload the worker gets."""
    runtime.bus.publish(event)
    [raw] = redis_client.lrange(queue_name("scanner"), 0, -1)
    args, _kwargs, _embed = json.loads(base64.b64decode(json.loads(raw)["body"]))
    redis_client.delete(queue_name("scanner"))
    return str(args[0])


# --- a handled event -------------------------------------------------------------------


def test_a_handled_event_is_published_to_the_queue_of_the_stage_that_consumes_its_output(
    runtime, redis_client
):
    calls: list[Envelope] = []
    pushed = image_pushed()
    planned_run(runtime)

    StageRunner(scanner(passing_scanner(calls)), runtime).process(encode_event(pushed))

    assert [c.event_id for c in calls] == [pushed.event_id]
    [published] = queued(redis_client, "committer")
    assert isinstance(published, ScanPassed)
    assert published.event_id == scan_passed(pushed).event_id
    assert (published.run_id, published.service, published.digest) == (
        "run-1",
        SERVICE,
        pushed.digest,
    )
    assert queued(redis_client, "notifier") == []


def test_a_handled_event_output_is_appended_to_the_event_log(runtime, redis_client):
    pushed = image_pushed()
    planned_run(runtime)

    StageRunner(scanner(passing_scanner([])), runtime).process(encode_event(pushed))

    assert [(e.type, e.event_id) for e in logged(redis_client)] == [
        ("ScanPassed", scan_passed(pushed).event_id)
    ]
    run_log = runtime.event_log.for_run("run-1")
    assert [entry["type"] for _, entry in run_log] == ["ScanPassed"]


def test_a_handled_event_moves_the_service_to_the_stage_with_its_timing_in_the_run_store(
    runtime, redis_client
):
    planned_run(runtime)
    payload = delivered_from_queue(runtime, redis_client, image_pushed())

    StageRunner(scanner(passing_scanner([])), runtime).process(payload)

    service = runtime.runs.get("run-1").services[SERVICE]
    assert (service.stage, service.status) == ("scanner", "running")
    timing = service.timings["scanner"]
    assert timing.started <= timing.finished
    assert timing.seconds >= 0
    assert service.digest == "sha256:" + "ab" * 32


def test_an_event_taken_from_the_bus_queue_decodes_and_is_handled(runtime, redis_client):
    calls: list[Envelope] = []
    pushed = image_pushed()
    planned_run(runtime)
    payload = delivered_from_queue(runtime, redis_client, pushed)

    StageRunner(scanner(passing_scanner(calls)), runtime).process(payload)

    assert calls == [pushed]


# --- at-least-once delivery, handled once --------------------------------------------


def test_the_same_event_delivered_twice_calls_the_handler_once(runtime, redis_client):
    calls: list[Envelope] = []
    payload = encode_event(image_pushed())
    planned_run(runtime)
    runner = StageRunner(scanner(passing_scanner(calls)), runtime)

    runner.process(payload)
    runner.process(payload, attempt=2)

    assert len(calls) == 1
    assert len(queued(redis_client, "committer")) == 1
    assert len(logged(redis_client)) == 1


def test_the_same_event_delivered_to_two_workers_is_handled_once_per_stage_not_per_worker(
    runtime, redis_client
):
    calls: list[Envelope] = []
    payload = encode_event(image_pushed())
    planned_run(runtime)
    definition = scanner(passing_scanner(calls))

    StageRunner(definition, runtime).process(payload)
    StageRunner(definition, runtime).process(payload)

    assert len(calls) == 1


def test_an_event_redelivered_while_another_worker_handles_it_is_retried_later(
    runtime, redis_client
):
    calls: list[Envelope] = []
    payload = encode_event(image_pushed())
    definition = scanner(slow_silent(calls, seconds=1.0))
    first = threading.Thread(target=StageRunner(definition, runtime).process, args=(payload,))
    first.start()
    deadline = time.monotonic() + 5
    while not calls and time.monotonic() < deadline:
        time.sleep(0.01)

    with pytest.raises(RetryLater) as later:
        StageRunner(definition, runtime).process(payload)

    first.join()
    assert later.value.countdown >= 5
    assert len(calls) == 1


def deliver_until_handled(runner: StageRunner, payload: str, start: threading.Barrier) -> None:
    """A worker that gets the event again each time it is told to retry later."""
    start.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            runner.process(payload)
            return
        except RetryLater:
            continue  # the broker redelivers it; here without waiting out the countdown


def test_concurrent_redeliveries_of_one_event_call_the_handler_once(runtime, redis_client):
    """Workers that retry a claimed event at once must never run it a second time."""
    handled_per_event = []
    for trial in range(20):
        calls: list[Envelope] = []
        payload = encode_event(image_pushed(run_id=f"run-{trial}"))
        runner = StageRunner(scanner(slow_silent(calls, seconds=0.02)), runtime)
        start = threading.Barrier(6)
        workers = [
            threading.Thread(target=deliver_until_handled, args=(runner, payload, start))
            for _ in range(6)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        handled_per_event.append(len(calls))

    assert handled_per_event == [1] * 20


# --- failures ------------------------------------------------------------------------


@pytest.mark.parametrize("attempt", range(1, MAX_RETRIES + 1))
def test_a_transient_error_asks_for_a_retry_with_a_backoff_countdown(
    runtime, redis_client, attempt
):
    calls: list[Envelope] = []
    planned_run(runtime)
    runner = StageRunner(scanner(raising(TransientError("registry answered 503"), calls)), runtime)

    with pytest.raises(RetryLater) as later:
        runner.process(encode_event(image_pushed()), attempt=attempt)

    assert 0 <= later.value.countdown <= 2 ** (attempt - 1)
    assert len(calls) == 1
    assert queued(redis_client, "notifier") == []
    assert logged(redis_client) == []


def test_a_transient_error_is_handled_again_on_each_retry(runtime, redis_client):
    calls: list[Envelope] = []
    payload = encode_event(image_pushed())
    runner = StageRunner(scanner(raising(TransientError("registry answered 503"), calls)), runtime)

    for attempt in range(1, MAX_RETRIES + 1):
        with pytest.raises(RetryLater):
            runner.process(payload, attempt=attempt)
    runner.process(payload, attempt=MAX_RETRIES + 1)

    assert len(calls) == MAX_RETRIES + 1


def test_a_transient_error_after_the_last_retry_publishes_a_retryable_stage_failed(
    runtime, redis_client
):
    planned_run(runtime)
    runner = StageRunner(scanner(raising(TransientError("registry answered 503"), [])), runtime)

    runner.process(encode_event(image_pushed()), attempt=MAX_RETRIES + 1)

    [failed, completed] = queued(redis_client, "notifier")
    assert isinstance(failed, StageFailed)
    assert (failed.stage, failed.service, failed.retryable) == ("scanner", SERVICE, True)
    assert failed.error_class == "TransientError"
    assert failed.message.startswith("registry answered 503 (gave up after 3 attempts over ")
    assert "`shipline publish --from-dead-letter scanner-" in failed.message
    assert failed.attempt == MAX_RETRIES + 1
    assert isinstance(completed, RunCompleted)
    assert completed.status == "failed"


def test_a_permanent_error_publishes_a_stage_failed_at_once_naming_the_error(runtime, redis_client):
    calls: list[Envelope] = []
    planned_run(runtime)
    runner = StageRunner(scanner(raising(PermanentError("image manifest unknown"), calls)), runtime)

    runner.process(encode_event(image_pushed()), attempt=1)

    assert len(calls) == 1
    [failed] = failures(redis_client)
    assert (failed.error_class, failed.message) == ("PermanentError", "image manifest unknown")
    assert (failed.stage, failed.service, failed.attempt, failed.retryable) == (
        "scanner",
        SERVICE,
        1,
        False,
    )
    assert failed in queued(redis_client, "notifier")


def test_a_permanent_error_marks_the_service_failed_and_completes_its_run(runtime, redis_client):
    planned_run(runtime)
    runner = StageRunner(scanner(raising(PermanentError("image manifest unknown"), [])), runtime)

    runner.process(encode_event(image_pushed()))

    run = runtime.runs.get("run-1")
    service = run.services[SERVICE]
    assert service.status == "failed"
    assert service.reason == "scanner: PermanentError: image manifest unknown"
    assert run.status == "failed"
    [completed] = [e for e in queued(redis_client, "notifier") if isinstance(e, RunCompleted)]
    assert completed.services[SERVICE].status == "failed"


def test_an_unexpected_exception_ends_in_a_stage_failed_not_a_crash_loop(runtime, redis_client):
    calls: list[Envelope] = []
    payload = encode_event(image_pushed())
    planned_run(runtime)
    runner = StageRunner(scanner(raising(RuntimeError("list index out of range"), calls)), runtime)

    runner.process(payload)
    runner.process(payload, attempt=2)

    assert len(calls) == 1
    [failed] = failures(redis_client)
    assert (failed.error_class, failed.message) == ("RuntimeError", "list index out of range")
    assert failed.retryable is False


def test_a_redelivered_failure_logs_a_single_stage_failed(runtime, redis_client):
    calls: list[Envelope] = []
    pushed = image_pushed()
    planned_run(runtime)
    runner = StageRunner(scanner(raising(PermanentError("image manifest unknown"), calls)), runtime)
    runner.process(encode_event(pushed))
    # the worker died after publishing, before recording the event as done
    redis_client.delete(f"shipline:done:scanner:{pushed.event_id}")

    runner.process(encode_event(pushed), attempt=2)

    assert len(calls) == 2
    assert len(failures(redis_client)) == 1
    assert len([e for e in logged(redis_client) if isinstance(e, RunCompleted)]) == 1


def test_the_stage_failed_id_is_the_same_for_every_delivery_of_an_event(runtime, redis_client):
    pushed = image_pushed()
    definition = scanner(raising(PermanentError("image manifest unknown"), []))
    StageRunner(definition, runtime).process(encode_event(pushed))
    [first] = failures(redis_client)
    redis_client.flushdb()

    StageRunner(definition, runtime).process(encode_event(pushed), attempt=3)

    [second] = failures(redis_client)
    assert second.event_id == first.event_id
    assert second.event_id != pushed.event_id


# --- events a stage must not handle ----------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        "not json at all",
        "{}",
        '{"type": "ImageDeleted", "run_id": "run-1"}',
        json.dumps({**json.loads(encode_event(image_pushed())), "digest": "latest"}),
    ],
    ids=["not-json", "empty-object", "unknown-type", "invalid-field"],
)
def test_an_undecodable_payload_is_dead_lettered_without_calling_the_handler(
    runtime, redis_client, payload
):
    calls: list[Envelope] = []

    StageRunner(scanner(passing_scanner(calls)), runtime).process(payload)

    assert calls == []
    assert logged(redis_client) == []
    kept = redis_client.keys("shipline:*")
    assert kept and all(k.startswith(b"shipline:dead-letter") for k in kept), kept


def test_an_event_the_stage_does_not_consume_is_dropped_without_calling_the_handler(
    runtime, redis_client
):
    calls: list[Envelope] = []
    planned_run(runtime)
    before = runtime.runs.get("run-1")

    StageRunner(scanner(passing_scanner(calls)), runtime).process(
        encode_event(scan_passed(image_pushed()))
    )

    assert calls == []
    assert logged(redis_client) == []
    assert runtime.runs.get("run-1") == before


# --- stage options -------------------------------------------------------------------


def test_a_stage_that_does_not_track_services_leaves_the_service_status_alone(
    runtime, redis_client
):
    calls: list[Envelope] = []
    planned_run(runtime)
    before = runtime.runs.get("run-1").services[SERVICE]

    StageRunner(scanner(slow_silent(calls, 0), tracks_service=False), runtime).process(
        encode_event(image_pushed())
    )

    assert len(calls) == 1
    after = runtime.runs.get("run-1").services[SERVICE]
    assert after == before
    assert (after.stage, after.status) == ("detector", "pending")


def test_a_stage_that_tracks_services_marks_the_service_running_while_it_works(
    runtime, redis_client
):
    planned_run(runtime)

    StageRunner(scanner(slow_silent([], 0)), runtime).process(encode_event(image_pushed()))

    service = runtime.runs.get("run-1").services[SERVICE]
    assert (service.stage, service.status) == ("scanner", "running")
    assert service.timings["scanner"].started is not None


@pytest.mark.parametrize(
    ("error", "attempt"),
    [
        (PermanentError("webhook refused the payload"), 1),
        (TransientError("webhook timed out"), MAX_RETRIES + 1),
        (RuntimeError("unexpected"), 1),
    ],
    ids=["permanent", "transient-exhausted", "unexpected"],
)
def test_a_stage_that_does_not_report_failures_publishes_nothing_when_it_fails(
    runtime, redis_client, error, attempt
):
    calls: list[Envelope] = []
    planned_run(runtime)
    definition = scanner(raising(error, calls), reports_failures=False)

    StageRunner(definition, runtime).process(encode_event(image_pushed()), attempt=attempt)

    assert len(calls) == 1
    assert logged(redis_client) == []
    assert all(queued(redis_client, stage) == [] for stage in ("notifier", "committer"))


# --- backoff ---------------------------------------------------------------------------


@pytest.mark.parametrize("attempt", [1, 2, 3, 5, 7, 10, 30])
def test_backoff_stays_between_zero_and_the_capped_exponential_delay(attempt):
    bound = min(60.0, 1.0 * 2 ** (attempt - 1))

    delays = [backoff(attempt) for _ in range(500)]

    assert all(0 <= delay <= bound for delay in delays)
    assert max(delays) > bound / 2  # jittered over the whole range, not pinned at zero


def test_backoff_honours_a_custom_base_and_cap():
    delays = [backoff(attempt, base=0.5, cap=3.0) for attempt in range(1, 12) for _ in range(100)]

    assert all(0 <= delay <= 3.0 for delay in delays)
    assert all(0 <= backoff(2, base=0.5, cap=3.0) <= 1.0 for _ in range(200))


@pytest.mark.integration  # starts Redis
def test_an_event_interrupted_by_a_redis_outage_is_handled_again_once_redis_returns(tmp_path):
    """A claim left behind would hold the requeued event back for the visibility timeout
    (a Sentinel failover mid-task stalled a run for 15 minutes)."""
    from services.devenv.redis_server import RedisServer

    server = RedisServer(tmp_path / "redis", appendonly=True).start()
    runtime = Runtime(Settings(redis_url=server.url, workdir=tmp_path))
    calls: list[Envelope] = []
    test_over = threading.Event()

    def back_after_a_while() -> None:  # alive till the end: the server dies with its thread
        time.sleep(1.5)
        server.restart()
        test_over.wait()

    def redis_goes_away(_: Runtime) -> Handler:
        def handle(event: Envelope) -> Sequence[Envelope]:
            calls.append(event)
            if len(calls) == 1:
                server.stop()
                threading.Thread(target=back_after_a_while, daemon=True).start()
                raise redis.ConnectionError("Redis went away mid-task")
            return ()

        return handle

    runner = StageRunner(scanner(redis_goes_away), runtime)
    payload = encode_event(image_pushed())
    try:
        with pytest.raises(redis.ConnectionError):
            runner.process(payload)
        runner.process(payload)  # the requeued delivery, at once
    finally:
        runtime.redis.close()
        server.stop()
        test_over.set()

    assert len(calls) == 2


# --- the runner's own round trips ------------------------------------------------------


class RoundTrips:
    """A Redis client that counts the round trips made through it (a pipeline's is one)."""

    def __init__(self, client: redis.Redis) -> None:
        self.client, self.count = client, 0

    def pipeline(self, transaction: bool = True) -> object:
        pipe = self.client.pipeline(transaction=transaction)
        execute = pipe.execute

        def counted() -> list[object]:
            self.count += 1
            return execute()

        pipe.execute = counted  # type: ignore[method-assign]
        return pipe

    def __getattr__(self, name: str) -> object:
        command = getattr(self.client, name)

        def counted(*args: object, **kwargs: object) -> object:
            self.count += 1
            return command(*args, **kwargs)

        return counted


def test_the_runner_claims_and_checks_in_one_round_trip_and_marks_done_and_releases_in_another(
    runtime, redis_client
):
    calls: list[Envelope] = []
    event = image_pushed()
    runner = StageRunner(scanner(slow_silent(calls, 0), tracks_service=False), runtime)
    trips = RoundTrips(runtime.redis)
    runtime.__dict__["redis"] = trips

    runner.process(encode_event(event))

    assert (len(calls), trips.count) == (1, 2)
    done = runtime.keyspace.stage_done("scanner", event.event_id)
    claim = runtime.keyspace.stage_claim("scanner", event.event_id)
    assert redis_client.exists(done) and not redis_client.exists(claim)

    runner.process(encode_event(event), attempt=2)  # a redelivery: claimed, seen done, released

    assert (len(calls), trips.count) == (1, 4)
    assert not redis_client.exists(claim)

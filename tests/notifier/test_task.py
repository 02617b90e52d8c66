"""The notifier stage: once per channel, retried without repeats, on a real Redis and bus."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator

import pytest
import redis

from services.common.bus import queue_name
from services.common.errors import PermanentError, TransientError
from services.common.events import ServiceOutcome, decode_event, encode_event
from services.common.keyspace import DEFAULT_KEYSPACE
from services.common.runtime import Runtime
from services.common.settings import WebhookChannelSettings
from services.common.stage import RetryLater, StageRunner
from services.demo.receiver import NotificationReceiver
from services.notifier.task import STAGE, make_handler
from tests.notifier.samples import (
    COMMIT,
    REPOSITORY,
    RUN,
    Runtimes,
    manifest_committed,
    recorded,
    run_completed,
    scan_failed,
)
from tests.notifier.servers import HttpRecorder

MAX_RETRIES = 2


MakeRuntime = Callable[..., Runtime]


@pytest.fixture
def make_runtime(redis_url: str, redis_client: redis.Redis, tmp_path) -> Iterator[MakeRuntime]:
    """A Runtime on the test's Redis notifying the given webhook channels."""
    with Runtimes(redis_url, tmp_path, MAX_RETRIES) as make:
        yield lambda *channels: make(list(channels))


@pytest.fixture
def receiver() -> Iterator[NotificationReceiver]:
    with NotificationReceiver() as running:
        yield running


def to(url: str, *events: str) -> WebhookChannelSettings:
    if events:
        return WebhookChannelSettings(type="webhook", url=url, events=list(events))
    return WebhookChannelSettings(type="webhook", url=url)


def take_queued(redis_client: redis.Redis, stage: str = "notifier") -> list[str]:
    """Pop every payload waiting on a stage's queue, oldest first, as a worker would get it."""
    payloads = []
    while (raw := redis_client.rpop(queue_name(stage))) is not None:
        args, _kwargs, _embed = json.loads(base64.b64decode(json.loads(raw)["body"]))
        payloads.append(str(args[0]))
    return payloads


def planned_run(runtime: Runtime) -> None:
    runtime.runs.create(RUN, trigger="push", repository=REPOSITORY, commit=COMMIT)
    runtime.runs.plan(RUN, ["user-service"])


# --- once per channel ----------------------------------------------------------------------


def test_the_same_event_handled_twice_is_sent_once_per_channel(make_runtime, redis_client):
    event = recorded(redis_client, run_completed())
    with NotificationReceiver() as first, NotificationReceiver() as second:
        handle = make_handler(make_runtime(to(first.url), to(second.url)))

        handle(event)
        handle(event)

        assert [body["event"]["event_id"] for body in first.received] == [str(event.event_id)]
        assert [body["event"]["event_id"] for body in second.received] == [str(event.event_id)]


def test_the_same_event_delivered_twice_to_the_notifier_stage_is_sent_once(
    make_runtime, receiver, redis_client
):
    runner = StageRunner(STAGE, make_runtime(to(receiver.url)))
    payload = encode_event(recorded(redis_client, run_completed()))

    runner.process(payload)
    runner.process(payload, attempt=2)

    assert len(receiver.received) == 1


def test_two_notifier_processes_send_the_same_event_once(make_runtime, receiver, redis_client):
    payload = encode_event(recorded(redis_client, run_completed()))

    StageRunner(STAGE, make_runtime(to(receiver.url))).process(payload)
    StageRunner(STAGE, make_runtime(to(receiver.url))).process(payload)

    assert len(receiver.received) == 1


def test_different_events_are_each_sent(make_runtime, receiver, redis_client):
    handle = make_handler(make_runtime(to(receiver.url)))

    handle(recorded(redis_client, run_completed("succeeded")))
    failed = ServiceOutcome(status="failed", reason="builder: COPY failed")
    handle(
        recorded(redis_client, run_completed("failed", run_id="run-43", **{"user-service": failed}))
    )

    assert [body["status"] for body in receiver.received] == ["succeeded", "failed"]


# --- retries -------------------------------------------------------------------------------


def test_a_retry_after_one_channel_failed_does_not_resend_to_channels_that_succeeded(
    make_runtime, receiver, redis_client
):
    with HttpRecorder(status=503) as flaky:
        runner = StageRunner(STAGE, make_runtime(to(receiver.url), to(f"{flaky.url}/hook")))
        payload = encode_event(recorded(redis_client, run_completed()))
        with pytest.raises(RetryLater):
            runner.process(payload, attempt=1)
        assert (len(receiver.received), len(flaky.accepted)) == (1, 0)
        flaky.status = 204

        runner.process(payload, attempt=2)

        assert (len(receiver.received), len(flaky.accepted)) == (1, 1)


def test_a_handler_retried_after_a_failed_channel_sends_only_to_the_failed_one(
    make_runtime, receiver, redis_client
):
    with HttpRecorder(status=500) as flaky:
        handle = make_handler(make_runtime(to(receiver.url), to(f"{flaky.url}/hook")))
        event = recorded(redis_client, run_completed())
        with pytest.raises(TransientError):
            handle(event)
        flaky.status = 200

        handle(event)
        handle(event)

        assert (len(receiver.received), len(flaky.accepted)) == (1, 1)


def test_a_notifier_that_keeps_failing_gives_up_without_publishing_anything(
    make_runtime, redis_client
):
    runner = StageRunner(STAGE, make_runtime(to("http://127.0.0.1:1/x")))
    payload = encode_event(recorded(redis_client, run_completed()))

    for attempt in range(1, MAX_RETRIES + 1):
        with pytest.raises(RetryLater):
            runner.process(payload, attempt=attempt)
    runner.process(payload, attempt=MAX_RETRIES + 1)

    assert redis_client.llen(queue_name("notifier")) == 0
    assert redis_client.xlen(DEFAULT_KEYSPACE.events) == 0


def test_a_failed_delivery_does_not_mark_the_run_notified(make_runtime, redis_client):
    runtime = make_runtime(to("http://127.0.0.1:1/x"))
    planned_run(runtime)

    with pytest.raises(TransientError):
        make_handler(runtime)(recorded(redis_client, run_completed()))

    assert runtime.runs.get(RUN).notified_at is None


# --- which events reach which channel ----------------------------------------------------


def test_a_default_webhook_channel_is_not_sent_a_manifest_commit(make_runtime, receiver):
    handle = make_handler(make_runtime(to(receiver.url)))

    assert handle(manifest_committed()) == ()

    assert receiver.received == []


def test_a_channel_subscribed_to_scan_failures_gets_them_and_the_default_one_does_not(
    make_runtime, receiver
):
    with NotificationReceiver() as summaries_only:
        handle = make_handler(make_runtime(to(receiver.url, "ScanFailed"), to(summaries_only.url)))

        handle(scan_failed())

        [posted] = receiver.received
        assert (posted["run_id"], posted["status"]) == (RUN, "blocked")
        assert "aws-access-key-id" in posted["text"]
        assert summaries_only.received == []


# --- run bookkeeping -----------------------------------------------------------------------


def test_a_run_completed_marks_the_run_notified(make_runtime, receiver, redis_client):
    runtime = make_runtime(to(receiver.url))
    planned_run(runtime)

    make_handler(runtime)(recorded(redis_client, run_completed()))

    run = runtime.runs.get(RUN)
    assert run.notified_at >= run.created_at


def test_a_manifest_commit_does_not_mark_the_run_notified(make_runtime, receiver):
    runtime = make_runtime(to(receiver.url, "ManifestCommitted"))
    planned_run(runtime)

    make_handler(runtime)(manifest_committed())

    assert len(receiver.received) == 1
    assert runtime.runs.get(RUN).notified_at is None


def test_the_notifier_leaves_the_service_status_as_the_pipeline_left_it(
    make_runtime, receiver, redis_client
):
    runtime = make_runtime(to(receiver.url, "ScanFailed", "RunCompleted"))
    planned_run(runtime)
    runtime.bus.publish(scan_failed("user-service"))
    runner = StageRunner(STAGE, runtime)

    for payload in take_queued(redis_client):
        runner.process(payload)

    service = runtime.runs.get(RUN).services["user-service"]
    assert (service.stage, service.status) == ("scanner", "blocked")
    assert [body["event"]["type"] for body in receiver.received] == ["ScanFailed", "RunCompleted"]


def test_a_run_summary_published_on_the_bus_reaches_the_webhook_and_marks_the_run_notified(
    make_runtime, receiver, redis_client
):
    runtime = make_runtime(to(receiver.url))
    planned_run(runtime)
    runtime.bus.publish(manifest_committed())  # the run's last service: completes the run
    runner = StageRunner(STAGE, runtime)

    payloads = take_queued(redis_client)
    for payload in payloads:
        runner.process(payload)

    assert [decode_event(p).type for p in payloads] == ["ManifestCommitted", "RunCompleted"]
    [posted] = receiver.received
    assert (posted["run_id"], posted["status"]) == (RUN, "succeeded")
    run = runtime.runs.get(RUN)
    assert run.status == "succeeded"
    assert run.notified_at is not None


def test_a_forged_summary_of_a_running_run_is_not_sent_and_leaves_the_run_unnotified(
    make_runtime, receiver
):
    runtime = make_runtime(to(receiver.url))
    planned_run(runtime)  # user-service has not finished

    with pytest.raises(PermanentError, match="has not finished"):
        make_handler(runtime)(run_completed("succeeded"))

    assert receiver.received == []
    assert runtime.runs.get(RUN).notified_at is None

"""Every channel kind at once through the notifier stage, on a real Redis, real HTTP receivers
and a real SMTP server: routing, retries of only the failing channel, once per run, channel
and outcome, and a channel that keeps failing never holding the others back."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
import trustme

from services.common.errors import PermanentError, TransientError
from services.common.events import encode_event
from services.common.stage import RetryLater, StageRunner
from services.notifier.delivery import deliver
from services.notifier.task import STAGE, make_handler
from tests.notifier.samples import (
    RUN,
    Runtimes,
    mixed_run,
    recorded,
    run_completed,
    scan_failed,
)
from tests.notifier.servers import Answer, HttpRecorder, SmtpServer

pytestmark = [
    pytest.mark.filterwarnings("ignore:Session.login_data is deprecated:DeprecationWarning"),
]

MAX_RETRIES = 2
TOKEN = "ghp_deliveryT0ken0123456789abcdef"
SECRET = "whsec-delivery-0123456789"


@dataclass
class Receivers:
    webhook: HttpRecorder
    slack: HttpRecorder
    github: HttpRecorder
    smtp: SmtpServer
    ca_file: Path

    def channels(self, **overrides: dict[str, Any]) -> list[dict[str, Any]]:
        """One channel of each kind, named after it; ``overrides`` change one by name."""
        configured = {
            "hook": {"type": "webhook", "url": f"{self.webhook.url}/hook", "secret": SECRET},
            "slack": {"type": "slack", "url": f"{self.slack.url}/services/T/B/X"},
            "github": {"type": "github_status", "api_url": self.github.url, "token": TOKEN},
            "mail": {
                "type": "email",
                "host": "127.0.0.1",
                "port": self.smtp.port,
                "ca_file": str(self.ca_file),
                "from": "shipline@acme.dev",
                "to": ["oncall@acme.dev"],
            },
        }
        return [
            {"name": name, **config, **overrides.get(name, {})}
            for name, config in configured.items()
        ]

    def counts(self) -> dict[str, int]:
        return {
            "hook": len(self.webhook.requests),
            "slack": len(self.slack.requests),
            "github": len(self.github.requests),
            "mail": len(self.smtp.mails),
        }


@pytest.fixture
def receivers(tmp_path: Path) -> Iterator[Receivers]:
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    with (
        HttpRecorder(status=204) as webhook,
        HttpRecorder(status=200) as slack,
        HttpRecorder(status=201) as github,
        SmtpServer(ca=ca) as smtp,
    ):
        yield Receivers(webhook, slack, github, smtp, ca_file)


@pytest.fixture
def make_runtime(redis_url: str, redis_client: redis.Redis, tmp_path) -> Iterator[Runtimes]:
    with Runtimes(redis_url, tmp_path, MAX_RETRIES) as make:
        yield make


# --- every kind, once ----------------------------------------------------------------------


def test_a_run_summary_reaches_every_channel_kind_once(make_runtime, receivers, redis_client):
    runner = StageRunner(STAGE, make_runtime(receivers.channels()))
    payload = encode_event(recorded(redis_client, mixed_run()))

    runner.process(payload)
    runner.process(payload, attempt=2)  # a redelivery

    assert receivers.counts() == {"hook": 1, "slack": 1, "github": 1, "mail": 1}
    assert receivers.webhook.requests[0].json()["status"] == "blocked"
    assert receivers.github.requests[0].json()["state"] == "failure"
    assert receivers.slack.requests[0].json()["blocks"][0]["text"]["text"].startswith("⛔")
    assert receivers.smtp.mails[0].message["Subject"].startswith("[shipline] ⛔ run run-42")


def test_a_second_summary_of_the_same_run_and_outcome_is_not_sent_again(
    make_runtime, receivers, redis_client
):
    handle = make_handler(make_runtime(receivers.channels()))
    first, again = (
        recorded(redis_client, run_completed("succeeded")),
        recorded(redis_client, run_completed("succeeded")),
    )
    assert first.event_id != again.event_id

    handle(first)
    handle(again)

    assert receivers.counts() == {"hook": 1, "slack": 1, "github": 1, "mail": 1}


def test_a_summary_of_the_same_run_with_another_outcome_is_sent(
    make_runtime, receivers, redis_client
):
    handle = make_handler(make_runtime(receivers.channels()))

    handle(recorded(redis_client, run_completed("succeeded")))
    handle(recorded(redis_client, mixed_run()))

    assert receivers.counts() == {"hook": 2, "slack": 2, "github": 2, "mail": 2}
    assert [r.json()["state"] for r in receivers.github.requests] == ["success", "failure"]


def test_the_delivery_markers_name_the_run_channel_and_outcome(
    make_runtime, receivers, redis_client
):
    make_handler(make_runtime(receivers.channels()))(recorded(redis_client, mixed_run()))

    for name in ("hook", "slack", "github", "mail"):
        assert redis_client.get(f"shipline:notified:{RUN}:{name}:blocked") == b"sent"


# --- retries -------------------------------------------------------------------------------


def test_a_channel_answering_500_is_retried_alone_and_then_delivered(
    make_runtime, receivers, redis_client
):
    receivers.slack.answers.append(Answer(500, "internal_error"))
    runner = StageRunner(STAGE, make_runtime(receivers.channels()))
    payload = encode_event(recorded(redis_client, run_completed()))

    with pytest.raises(RetryLater):
        runner.process(payload, attempt=1)
    assert receivers.counts() == {"hook": 1, "slack": 1, "github": 1, "mail": 1}

    runner.process(payload, attempt=2)

    assert receivers.counts() == {"hook": 1, "slack": 2, "github": 1, "mail": 1}
    assert receivers.slack.requests[0].body == receivers.slack.requests[1].body


def test_a_transient_failure_names_only_the_failing_channels(make_runtime, receivers, redis_client):
    channels = receivers.channels(slack={"url": "http://127.0.0.1:1/x"})
    receivers.github.answers.append(503)
    handle = make_handler(make_runtime(channels))

    with pytest.raises(TransientError) as raised:
        handle(recorded(redis_client, run_completed()))

    assert str(raised.value) == (
        "notification failed on slack: ConnectError; github: answered HTTP 503"
    )
    assert TOKEN not in str(raised.value)


def test_a_channel_that_keeps_failing_does_not_hold_back_the_others(
    make_runtime, receivers, redis_client
):
    receivers.slack.status = 503
    runner = StageRunner(STAGE, make_runtime(receivers.channels()))
    payload = encode_event(recorded(redis_client, run_completed()))

    for attempt in range(1, MAX_RETRIES + 1):
        with pytest.raises(RetryLater):
            runner.process(payload, attempt=attempt)
    runner.process(payload, attempt=MAX_RETRIES + 1)  # gives up on slack

    assert receivers.counts() == {"hook": 1, "slack": MAX_RETRIES + 1, "github": 1, "mail": 1}


def test_a_channel_answering_404_is_given_up_at_once_and_the_others_are_delivered(
    make_runtime, receivers, redis_client
):
    receivers.github.answers.append(Answer(404, '{"message": "Not Found"}'))
    runtime = make_runtime(receivers.channels())
    runner = StageRunner(STAGE, runtime)
    payload = encode_event(recorded(redis_client, run_completed()))

    runner.process(payload)  # no RetryLater: nothing left to retry

    assert receivers.counts() == {"hook": 1, "slack": 1, "github": 1, "mail": 1}
    assert redis_client.get(f"shipline:notified:{RUN}:github:succeeded") == b"refused"
    assert runtime.runs.get(RUN).notified_at is not None


def test_a_channel_refused_for_good_is_not_tried_again_by_a_later_summary(
    make_runtime, receivers, redis_client
):
    receivers.github.answers.append(404)
    handle = make_handler(make_runtime(receivers.channels()))

    with pytest.raises(PermanentError, match="^github: answered HTTP 404"):
        handle(recorded(redis_client, run_completed()))
    again = recorded(redis_client, run_completed())  # the same run and outcome, another event
    handle(again)

    assert receivers.counts() == {"hook": 1, "slack": 1, "github": 1, "mail": 1}


def test_a_permanent_and_a_transient_failure_retry_only_the_transient_channel(
    make_runtime, receivers, redis_client
):
    receivers.github.answers.append(401)
    receivers.slack.answers.append(502)
    runner = StageRunner(STAGE, make_runtime(receivers.channels()))
    payload = encode_event(recorded(redis_client, run_completed()))

    with pytest.raises(RetryLater):
        runner.process(payload, attempt=1)
    runner.process(payload, attempt=2)

    assert receivers.counts() == {"hook": 1, "slack": 2, "github": 1, "mail": 1}


def test_a_bug_in_one_channel_does_not_stop_the_others():
    class Broken:
        name = "broken"

        def select(self, event):
            return event

        def send(self, event):
            raise KeyError(f"token={TOKEN}")

    class Recording:
        name = "ok"

        def __init__(self):
            self.sent = []

        def select(self, event):
            return event

        def send(self, event):
            self.sent.append(event)

    class Memory:
        def __init__(self):
            self.marks: dict[str, str] = {}

        def seen(self, key):
            return key in self.marks

        def mark(self, key, result):
            self.marks[key] = result

    working, markers = Recording(), Memory()

    with pytest.raises(TransientError) as raised:
        deliver(run_completed(), [Broken(), working], markers)

    assert str(raised.value) == "notification failed on broken: unexpected KeyError"
    assert len(working.sent) == 1
    assert list(markers.marks.values()) == ["sent"]


# --- routing from the settings -------------------------------------------------------------


def test_channels_get_only_the_services_and_outcomes_they_follow(
    make_runtime, receivers, redis_client
):
    channels = receivers.channels(
        hook={"services": ["payments-*"]},  # follows none of this run's services
        slack={"outcomes": ["failed", "blocked"]},  # problems only
        github={"services": ["user-service"]},  # its status: only user-service's outcome
        mail={"services": ["account-*"], "outcomes": ["blocked"]},
    )
    handle = make_handler(make_runtime(channels))

    handle(recorded(redis_client, mixed_run()))
    handle(recorded(redis_client, run_completed("succeeded", run_id="run-43")))

    assert receivers.counts() == {"hook": 0, "slack": 1, "github": 2, "mail": 1}
    assert receivers.github.requests[0].json() == {
        "state": "success",
        "context": "shipline",
        "description": "succeeded: user-service",
    }
    body = receivers.smtp.mails[0].message.get_content()
    assert "account-service: blocked" in body
    assert "user-service" not in body


def test_a_channel_subscribed_to_scan_failures_of_one_service_gets_only_those(
    make_runtime, receivers
):
    channels = receivers.channels(
        slack={"events": ["ScanFailed"], "services": ["account-service"]},
    )
    handle = make_handler(make_runtime(channels))

    handle(scan_failed("account-service"))
    handle(scan_failed("user-service"))

    assert receivers.counts() == {"hook": 0, "slack": 1, "github": 0, "mail": 0}
    header = receivers.slack.requests[0].json()["blocks"][0]["text"]["text"]
    assert header == "⛔ account-service blocked by the scan"

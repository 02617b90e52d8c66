"""The generic webhook against a real recording server: signed bodies, exact headers, errors."""

from __future__ import annotations

import hashlib
import hmac
import json
import traceback

import pytest

from services.common.errors import PermanentError, TransientError
from services.common.settings import WebhookChannelSettings
from services.notifier.channels import WebhookChannel
from tests.notifier.samples import RUN, mixed_run, run_completed
from tests.notifier.servers import Answer, HttpRecorder

SECRET = "whsec-6f1d2c0b9a8e7d6c5b4a"


def webhook(url: str, **options: object) -> WebhookChannel:
    return WebhookChannel(WebhookChannelSettings(type="webhook", url=url, **options), index=3)


def shows(error: BaseException) -> str:
    return " ".join([str(error), repr(error), "".join(traceback.format_exception(error))])


def test_a_signed_webhook_carries_an_hmac_sha256_of_the_exact_body_it_sent():
    event = run_completed()
    with HttpRecorder(status=204) as receiver:
        webhook(f"{receiver.url}/hooks/shipline", secret=SECRET).send(event)

    [request] = receiver.requests
    expected = hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    assert (request.method, request.path) == ("POST", "/hooks/shipline")
    assert request.headers["x-shipline-signature-256"] == f"sha256={expected}"
    assert request.headers["x-shipline-event"] == "RunCompleted"
    assert request.headers["x-shipline-delivery"] == str(event.event_id)
    assert request.headers["content-type"] == "application/json"
    assert SECRET not in json.dumps(request.headers) + request.body.decode()


def test_a_signature_made_with_another_secret_does_not_verify():
    with HttpRecorder(status=204) as receiver:
        webhook(receiver.url, secret=SECRET).send(run_completed())

    [request] = receiver.requests
    forged = hmac.new(b"another-secret", request.body, hashlib.sha256).hexdigest()
    assert not hmac.compare_digest(request.headers["x-shipline-signature-256"], f"sha256={forged}")


def test_the_signed_body_is_the_public_json_contract_with_run_id_and_status():
    event = mixed_run()
    with HttpRecorder(status=200) as receiver:
        webhook(receiver.url, secret=SECRET).send(event)

    posted = receiver.requests[0].json()
    assert set(posted) == {"run_id", "status", "text", "event"}
    assert (posted["run_id"], posted["status"]) == (RUN, "blocked")
    assert posted["event"]["event_id"] == str(event.event_id)
    assert posted["event"]["services"]["account-service"]["status"] == "blocked"


def test_a_webhook_without_a_secret_is_sent_unsigned_with_the_same_body():
    event = run_completed()
    with HttpRecorder(status=204) as receiver:
        webhook(receiver.url).send(event)
        webhook(receiver.url, secret=SECRET).send(event)

    unsigned, signed = receiver.requests
    assert "x-shipline-signature-256" not in unsigned.headers
    assert unsigned.body == signed.body


def test_a_webhook_answering_404_is_refused_for_good_with_the_answer_and_without_the_secret():
    with (
        HttpRecorder(answers=[Answer(404, f"no hook here; you sent {SECRET}")]) as receiver,
        pytest.raises(PermanentError) as raised,
    ):
        webhook(f"{receiver.url}/hooks/{SECRET}", secret=SECRET).send(run_completed())

    assert str(raised.value) == "webhook-3: answered HTTP 404: no hook here; you sent ***"
    assert SECRET not in shows(raised.value)


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_a_webhook_answering_5xx_or_429_is_retried_later(status):
    with (
        HttpRecorder(status=status) as receiver,
        pytest.raises(TransientError, match=f"^webhook-3: answered HTTP {status}$"),
    ):
        webhook(receiver.url, secret=SECRET).send(run_completed())

    assert len(receiver.requests) == 1  # one attempt per delivery: the stage runner retries


def test_a_webhook_answering_a_redirect_is_refused_for_good():
    with (
        HttpRecorder(status=301) as receiver,
        pytest.raises(PermanentError, match="answered HTTP 301"),
    ):
        webhook(receiver.url).send(run_completed())


def test_a_webhook_channel_is_named_by_its_settings_when_given_a_name():
    assert webhook("http://127.0.0.1:1/x", name="audit-log").name == "audit-log"

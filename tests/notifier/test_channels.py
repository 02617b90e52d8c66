"""Notification channels posting to real local HTTP endpoints."""

from __future__ import annotations

import time
import traceback
from collections.abc import Iterator

import pytest

from services.common.errors import ConfigError, TransientError
from services.common.events import Envelope
from services.common.settings import (
    EmailChannelSettings,
    LogChannelSettings,
    Settings,
    WebhookChannelSettings,
    load_settings,
)
from services.demo.receiver import NotificationReceiver
from services.notifier.channels import (
    EmailChannel,
    GitHubStatusChannel,
    LogChannel,
    SlackChannel,
    WebhookChannel,
    channels_from,
)
from tests.notifier.samples import (
    REGISTRY,
    manifest_committed,
    run_completed,
    scan_failed,
    stage_failed,
)
from tests.notifier.servers import HttpRecorder

IMAGE = f"{REGISTRY}/user-service"
HOOK_SECRET = "xoxb-hook-s3cret-2718281828"
UNREACHABLE = "http://127.0.0.1:1/x"


@pytest.fixture
def receiver() -> Iterator[NotificationReceiver]:
    with NotificationReceiver() as running:
        yield running


def webhook(url: str, **options: object) -> WebhookChannel:
    return WebhookChannel(WebhookChannelSettings(type="webhook", url=url, **options), index=0)


def shows(error: BaseException) -> str:
    """Everything a log or a Celery result could show of an error."""
    return " ".join([str(error), repr(error), "".join(traceback.format_exception(error))])


# --- delivery ------------------------------------------------------------------------------


def test_a_run_completed_is_posted_as_json_with_run_id_status_and_text(receiver):
    event = run_completed("succeeded")

    webhook(receiver.url).send(event)

    [posted] = receiver.received
    assert (posted["run_id"], posted["status"]) == ("run-42", "succeeded")
    assert "run run-42 succeeded" in posted["text"]
    assert "user-service" in posted["text"]
    assert posted["event"]["event_id"] == str(event.event_id)
    assert posted["event"]["type"] == "RunCompleted"


def test_a_failed_run_is_posted_with_the_failed_status(receiver):
    webhook(receiver.url).send(run_completed("failed"))

    assert (
        receiver.wait_for(lambda body: body["status"] == "failed", timeout=5)["run_id"] == "run-42"
    )


@pytest.mark.parametrize(
    ("event", "wanted"),
    [
        (run_completed(), True),
        (manifest_committed(), False),
        (scan_failed(), False),
        (stage_failed(), False),
    ],
    ids=["RunCompleted", "ManifestCommitted", "ScanFailed", "StageFailed"],
)
def test_a_webhook_channel_wants_only_run_summaries_by_default(event, wanted):
    assert webhook(UNREACHABLE).wants(event) is wanted


def test_a_webhook_channel_subscribed_to_manifest_commits_wants_and_posts_them(receiver):
    channel = webhook(receiver.url, events=["ManifestCommitted", "RunCompleted"])
    event = manifest_committed()

    assert channel.wants(event)
    channel.send(event)

    [posted] = receiver.received
    assert (posted["run_id"], posted["status"]) == ("run-42", "succeeded")
    assert f"{IMAGE}:sha-6113728" in posted["text"]


def test_a_webhook_channel_subscribed_to_manifest_commits_does_not_want_scan_failures():
    assert not webhook(UNREACHABLE, events=["ManifestCommitted"]).wants(scan_failed())


# --- failures are transient and keep secrets ------------------------------------------------


def test_an_unreachable_webhook_raises_a_transient_error_without_the_url_secrets():
    url = f"http://hook-user:{HOOK_SECRET}@127.0.0.1:1/hooks/{HOOK_SECRET}?token={HOOK_SECRET}"

    with pytest.raises(TransientError) as raised:
        webhook(url, timeout_seconds=2).send(run_completed())

    assert str(raised.value).startswith("webhook-0: ")
    assert HOOK_SECRET not in shows(raised.value)
    assert "hook-user" not in shows(raised.value)


def test_a_webhook_answering_500_raises_a_transient_error_without_the_url_secret():
    with HttpRecorder(status=500) as endpoint:
        channel = webhook(f"{endpoint.url}/hooks/T0/{HOOK_SECRET}")

        with pytest.raises(TransientError) as raised:
            channel.send(run_completed())

    assert len(endpoint.requests) == 1
    assert str(raised.value) == "webhook-0: answered HTTP 500"
    assert HOOK_SECRET not in shows(raised.value)


def test_a_webhook_slower_than_its_timeout_raises_a_transient_error():
    with HttpRecorder(status=204, delay=1.5) as endpoint:
        channel = webhook(f"{endpoint.url}/hooks/{HOOK_SECRET}", timeout_seconds=0.2)
        started = time.monotonic()

        with pytest.raises(TransientError) as raised:
            channel.send(run_completed())

        assert time.monotonic() - started < 1.5
    assert "Timeout" in str(raised.value)
    assert HOOK_SECRET not in shows(raised.value)


def test_a_webhook_answering_2xx_is_delivered():
    with HttpRecorder(status=202) as endpoint:
        webhook(endpoint.url).send(run_completed())

    assert len(endpoint.requests) == 1


# --- channels from settings --------------------------------------------------------------


def test_channels_are_built_from_the_settings_in_order_with_distinct_names():
    settings = Settings(
        notifications=[
            LogChannelSettings(type="log"),
            WebhookChannelSettings(type="webhook", url=UNREACHABLE),
            WebhookChannelSettings(type="webhook", url=UNREACHABLE, events=["ScanFailed"]),
        ]
    )

    channels = channels_from(settings)

    assert [type(c) for c in channels] == [LogChannel, WebhookChannel, WebhookChannel]
    assert len({c.name for c in channels}) == 3
    assert [c.wants(scan_failed()) for c in channels] == [True, False, True]


def test_the_default_settings_notify_through_the_log_only():
    [channel] = channels_from(Settings())

    assert isinstance(channel, LogChannel)


@pytest.mark.parametrize("event", [run_completed(), manifest_committed(), stage_failed()])
def test_the_log_channel_wants_and_sends_every_event(event: Envelope):
    channel = LogChannel()

    assert channel.wants(event)
    channel.send(event)


# --- every kind from the settings file ---------------------------------------------------

SERVER_YAML = """
notifications:
  - {type: log, outcomes: [failed]}
  - {type: webhook, url: "https://hooks.acme.dev/shipline", secret: whsec-0123456789abcdef}
  - type: slack
    name: slack-deploys
    url: https://hooks.slack.com/services/T0/B0/xoxsecretpart
    services: ["payments-*", user-service]
    outcomes: [failed, blocked, held]
  - {type: github_status, token: ghp_0123456789abcdef0123, api_url: "https://ghe.acme.dev/api/v3"}
  - type: email
    host: smtp.acme.dev
    username: shipline
    password: smtp-secret-password
    from: shipline@acme.dev
    to: [oncall@acme.dev]
"""


def load_from(tmp_path, monkeypatch, text: str, **env: str) -> Settings:
    config = tmp_path / "server.yaml"
    config.write_text(text)
    monkeypatch.setenv("SHIPLINE_CONFIG", str(config))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return load_settings()


def test_every_channel_kind_is_built_from_the_settings_file_in_order(tmp_path, monkeypatch):
    channels = channels_from(load_from(tmp_path, monkeypatch, SERVER_YAML))

    assert [(type(c), c.name) for c in channels] == [
        (LogChannel, "log-0"),
        (WebhookChannel, "webhook-1"),
        (SlackChannel, "slack-deploys"),
        (GitHubStatusChannel, "github_status-3"),
        (EmailChannel, "email-4"),
    ]


def test_the_log_channel_follows_its_routing_too():
    log = LogChannel(LogChannelSettings(type="log", outcomes=["failed"]))

    assert not log.wants(run_completed("succeeded"))
    assert log.wants(run_completed("failed"))
    assert log.wants(stage_failed())


def test_a_channel_list_from_the_environment_takes_an_email_from_address(monkeypatch):
    monkeypatch.setenv(
        "SHIPLINE_NOTIFICATIONS",
        '[{"type": "email", "host": "smtp.acme.dev", "from": "a@acme.dev", "to": ["b@acme.dev"]}]',
    )

    [channel] = load_settings().notifications

    assert isinstance(channel, EmailChannelSettings)
    assert (channel.from_, channel.port, channel.starttls) == ("a@acme.dev", 587, True)


@pytest.mark.parametrize(
    ("channel", "problem"),
    [
        ("{type: slack, url: 'ftp://xoxsecretpart'}", "notifications.0.slack.url"),
        ("{type: github_status}", "notifications.0.github_status.token: Field required"),
        (
            "{type: email, host: h, from: a@b.c, to: [d@e.f], password: xoxsecretpart}",
            "give both username and password, or neither",
        ),
        (
            "{type: slack, url: 'https://h/xoxsecretpart', commit_url_template: '{sha}'}",
            "unknown placeholder 'sha'",
        ),
        ("{type: webhook, url: 'https://h', outcomes: [Failed]}", "notifications.0.webhook"),
        ("{type: pager, url: 'https://h'}", "notifications.0: Input tag 'pager'"),
    ],
)
def test_an_invalid_channel_stops_the_start_naming_the_key_but_never_the_secret(
    tmp_path, monkeypatch, channel, problem
):
    with pytest.raises(ConfigError) as raised:
        load_from(tmp_path, monkeypatch, f"notifications:\n  - {channel}\n")

    assert problem in str(raised.value)
    assert "xoxsecretpart" not in str(raised.value)


def test_two_channels_with_the_same_name_stop_the_start(tmp_path, monkeypatch):
    text = "notifications:\n  - {type: log, name: ops}\n  - {type: log, name: ops}\n"

    with pytest.raises(ConfigError, match=r"channel names must be distinct: \['ops'\]"):
        load_from(tmp_path, monkeypatch, text)


def test_prod_refuses_a_placeholder_webhook_signing_secret(tmp_path, monkeypatch):
    text = (
        "env: prod\napi_tokens: [a-real-token-0123456789]\n"
        "notifications:\n  - {type: webhook, url: 'https://h', secret: changeme}\n"
    )

    with pytest.raises(ConfigError, match=r"notifications\.0\.secret is a placeholder"):
        load_from(tmp_path, monkeypatch, text)

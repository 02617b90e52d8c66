"""Slack incoming webhooks against a real recording server: the exact Block Kit message."""

from __future__ import annotations

import traceback

import pytest

from services.common.errors import PermanentError, TransientError
from services.common.settings import SlackChannelSettings
from services.notifier.channels import SlackChannel
from services.notifier.channels.slack import MAX_SERVICES, blocks
from tests.notifier.samples import (
    COMMIT,
    USER_DIGEST,
    manifest_committed,
    mixed_run,
    run_completed,
    scan_failed,
    stage_failed,
    user_succeeded,
)
from tests.notifier.servers import Answer, HttpRecorder

HOOK_PATH = "/services/T0001/B0002/xoxhooksecret4242"
COMMIT_LINK = f"<https://github.com/acme/microbank/commit/{COMMIT}|6113728>"


def slack(url: str, **options: object) -> SlackChannel:
    return SlackChannel(SlackChannelSettings(type="slack", url=url, **options), index=1)


def mrkdwn(text: str) -> dict:
    return {"type": "mrkdwn", "text": text}


def test_a_run_summary_is_posted_as_block_kit_with_status_service_image_digest_scan_and_time():
    with HttpRecorder(answers=[Answer(200, "ok")]) as slack_api:
        slack(f"{slack_api.url}{HOOK_PATH}").send(run_completed())

    [request] = slack_api.requests
    assert (request.method, request.path) == ("POST", HOOK_PATH)
    assert request.headers["content-type"] == "application/json"
    posted = request.json()
    assert posted["text"].startswith("✅ run run-42 succeeded for acme/microbank@6113728")
    assert posted["blocks"] == [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": "✅ acme/microbank@6113728 succeeded",
                "emoji": True,
            },
        },
        {
            "type": "section",
            "text": mrkdwn(f"*Commit* {COMMIT_LINK} · *Run* `run-42` · *Duration* 1m 16s"),
        },
        {
            "type": "section",
            "fields": [
                mrkdwn("*Service*\nuser-service"),
                mrkdwn("*Status*\n✅ succeeded"),
                mrkdwn("*Image*\n`127.0.0.1:5000/microbank/user-service:sha-6113728`"),
                mrkdwn(f"*Digest*\n`{USER_DIGEST}`"),
                mrkdwn("*Scan*\npassed: 2 HIGH"),
                mrkdwn("*Duration*\n41.2s"),
            ],
        },
    ]


def test_a_blocked_service_is_shown_with_its_scan_counts_and_the_finding_that_blocked_it():
    with HttpRecorder() as slack_api:
        slack(slack_api.url).send(mixed_run())

    found = slack_api.requests[0].json()["blocks"]
    assert found[0]["text"]["text"] == "⛔ acme/microbank@6113728 blocked"
    account = found[2]
    assert account["fields"][:2] == [
        mrkdwn("*Service*\naccount-service"),
        mrkdwn("*Status*\n⛔ blocked"),
    ]
    assert mrkdwn("*Scan*\nblocked: 1 CRITICAL") in account["fields"]
    assert found[3] == {
        "type": "context",
        "elements": [mrkdwn("blocked by CRITICAL secret aws-access-key-id in /app/.env:3")],
    }


def test_the_commit_link_follows_the_configured_template():
    template = "https://git.acme.dev/{repository}/-/commit/{short_commit}"

    [_, facts, _] = blocks(run_completed(), template)

    assert facts["text"]["text"].startswith(
        "*Commit* <https://git.acme.dev/acme/microbank/-/commit/6113728|6113728>"
    )


def test_without_a_commit_template_the_commit_is_shown_unlinked():
    [_, facts, _] = blocks(run_completed(), None)

    assert facts["text"]["text"].startswith("*Commit* `6113728`")


def test_text_from_events_is_escaped_so_it_cannot_forge_slack_links_or_mentions():
    [_, _, message] = blocks(stage_failed())

    assert message["text"]["text"] == "```COPY failed: &lt;app.txt&gt; not found```"


def test_a_deploy_commit_scan_failure_and_stage_failure_each_get_a_message():
    assert blocks(manifest_committed())[0]["text"]["text"] == "✅ user-service deployed"
    assert blocks(scan_failed())[0]["text"]["text"] == "⛔ account-service blocked by the scan"
    assert blocks(stage_failed())[0]["text"]["text"] == "❌ builder failed for user-service"
    assert blocks(scan_failed())[2]["text"]["text"] == (
        "• CRITICAL secret aws-access-key-id in /app/.env:3"
    )


def test_a_run_with_many_services_stays_within_slacks_fifty_blocks():
    services = {f"svc-{n:02d}": user_succeeded() for n in range(MAX_SERVICES + 15)}

    found = blocks(run_completed(**services))

    assert len(found) <= 50
    assert found[-1]["elements"][0]["text"] == "… and 15 more services"


def test_slack_refusing_the_message_is_permanent_and_never_shows_the_hook_url():
    with (
        HttpRecorder(answers=[Answer(400, "invalid_blocks")]) as slack_api,
        pytest.raises(PermanentError) as raised,
    ):
        slack(f"{slack_api.url}{HOOK_PATH}").send(run_completed())

    assert str(raised.value) == "slack-1: answered HTTP 400: invalid_blocks"
    assert "xoxhooksecret4242" not in "".join(traceback.format_exception(raised.value))


def test_slack_rate_limiting_or_failing_is_retried_later():
    with HttpRecorder(answers=[Answer(429, "rate_limited"), 503]) as slack_api:
        channel = slack(f"{slack_api.url}{HOOK_PATH}")
        for status in (429, 503):
            with pytest.raises(TransientError, match=f"^slack-1: answered HTTP {status}$"):
                channel.send(run_completed())


def test_the_slack_url_is_a_secret_in_the_settings():
    settings = SlackChannelSettings(type="slack", url=f"https://hooks.slack.com{HOOK_PATH}")

    assert "xoxhooksecret4242" not in repr(settings) + str(settings.model_dump())

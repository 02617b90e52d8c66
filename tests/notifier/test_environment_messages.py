"""A notification names the environment it is in when one is known, in every channel's
message; without one, every message reads exactly as before environments existed."""

from __future__ import annotations

from services.common.settings import EmailChannelSettings
from services.notifier.channels.email import compose
from services.notifier.channels.slack import message
from services.notifier.messages import body, summary
from tests.notifier.samples import manifest_committed, mixed_run, stage_failed

MAIL = EmailChannelSettings.model_validate(
    {"type": "email", "host": "smtp.test", "from": "shipline@acme.test", "to": ["ops@acme.test"]}
)


def test_the_summary_opens_with_the_environment_it_is_in():
    for event in (mixed_run(), manifest_committed(), stage_failed()):
        assert summary(event, "production") == f"[production] {summary(event)}"


def test_the_webhook_body_names_the_environment_only_when_one_is_known():
    event = manifest_committed()

    named, unnamed = body(event, "staging"), body(event)

    assert named["environment"] == "staging"
    assert named["text"].startswith("[staging] ")
    assert "environment" not in unnamed
    assert not unnamed["text"].startswith("[")
    assert {k: v for k, v in named.items() if k not in ("environment", "text")} == {
        k: v for k, v in unnamed.items() if k != "text"
    }


def test_slack_shows_the_environment_under_the_header_and_in_the_text():
    event = mixed_run()

    named, unnamed = message(event, None, "production"), message(event)

    assert named["text"].startswith("[production] ")
    assert named["blocks"][0] == unnamed["blocks"][0]  # the header
    assert named["blocks"][1] == {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": "in *production*"}],
    }
    assert named["blocks"][2:] == unnamed["blocks"][1:]


def test_the_mail_subject_and_text_name_the_environment():
    event = mixed_run()

    named, unnamed = compose(event, MAIL, "email-0", "staging"), compose(event, MAIL, "email-0")

    assert named["Subject"].startswith("[shipline] [staging] ")
    assert str(named["Subject"]).replace(" [staging]", "") == str(unnamed["Subject"])
    assert named.get_content().startswith("[staging] ")

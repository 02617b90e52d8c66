"""E-mail over SMTP against a real aiosmtpd server: STARTTLS, login, the exact message."""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from services.common.errors import PermanentError, TransientError
from services.common.settings import EmailChannelSettings
from services.notifier.channels import EmailChannel
from tests.notifier.samples import COMMIT, USER_DIGEST, mixed_run, run_completed, scan_failed
from tests.notifier.servers import SmtpServer

pytestmark = [
    # aiosmtpd itself still sets the deprecated Session.login_data on every login
    pytest.mark.filterwarnings("ignore:Session.login_data is deprecated:DeprecationWarning"),
]

USER, PASSWORD = "shipline@acme.dev", "smtp-Pa55word-31415"
SENDER, TEAM = "Shipline <shipline@acme.dev>", ["oncall@acme.dev", "platform@acme.dev"]


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture
def relay(ca: trustme.CA) -> Iterator[SmtpServer]:
    """A relay as in production: STARTTLS required, then a login."""
    with SmtpServer(ca=ca, credentials=(USER, PASSWORD)) as server:
        yield server


def email(port: int, **options: object) -> EmailChannel:
    settings: dict[str, object] = {
        "type": "email",
        "host": "127.0.0.1",
        "port": port,
        "from": SENDER,
        "to": TEAM,
        **options,
    }
    return EmailChannel(EmailChannelSettings.model_validate(settings), index=4)


def logged_in(port: int, ca_file: Path, password: str = PASSWORD, **options) -> EmailChannel:
    return email(port, ca_file=ca_file, username=USER, password=password, **options)


def lines(text: str) -> str:
    return text.replace("\r\n", "\n")  # SMTP sends CRLF


def shows(error: BaseException) -> str:
    return " ".join([str(error), repr(error), "".join(traceback.format_exception(error))])


def test_a_run_summary_is_mailed_over_starttls_after_logging_in(relay, ca_file):
    event = run_completed()

    logged_in(relay.port, ca_file).send(event)

    [mail] = relay.mails
    assert (mail.tls, mail.login) == (True, USER)
    assert mail.mail_from == "shipline@acme.dev"
    assert mail.rcpt_tos == TEAM
    message = mail.message
    assert (
        message["Subject"]
        == "[shipline] ✅ run run-42 succeeded for acme/microbank@6113728 in 75.5s"
    )
    assert message["From"] == SENDER
    assert message["To"] == ", ".join(TEAM)
    assert message["Message-ID"] == f"<{event.event_id}.email-4@shipline>"
    assert message["X-Shipline-Run"] == "run-42"
    assert message.get_content_type() == "text/plain"
    assert lines(message.get_content()) == (
        "✅ run run-42 succeeded for acme/microbank@6113728 in 75.5s\n"
        "  ✅ user-service: succeeded 127.0.0.1:5000/microbank/user-service:sha-6113728\n"
        "\n"
        f"Commit:   https://github.com/acme/microbank/commit/{COMMIT}\n"
        "Run:      run-42\n"
        "Duration: 1m 16s\n"
        "\n"
        "user-service: succeeded\n"
        "  image:    127.0.0.1:5000/microbank/user-service:sha-6113728\n"
        f"  digest:   {USER_DIGEST}\n"
        "  scan:     passed: 2 HIGH\n"
        "  duration: 41.2s\n"
    )


def test_a_blocked_service_is_mailed_with_its_scan_and_reason(relay, ca_file):
    logged_in(relay.port, ca_file, subject_prefix="[deploys]").send(mixed_run())

    message = relay.mails[0].message
    assert message["Subject"].startswith("[deploys] ⛔ run run-42 blocked")
    body = lines(message.get_content())
    assert "account-service: blocked\n" in body
    assert "  scan:     blocked: 1 CRITICAL\n" in body
    assert "  reason:   blocked by CRITICAL secret aws-access-key-id in /app/.env:3\n" in body


def test_a_scan_failure_is_mailed_when_the_channel_takes_it(relay, ca_file):
    channel = logged_in(relay.port, ca_file)

    channel.send(scan_failed())

    message = relay.mails[0].message
    assert message["Subject"].startswith("[shipline] account-service: ")
    assert "blocked by the scan: CRITICAL secret aws-access-key-id" in message["Subject"]


def test_a_server_without_tls_or_login_gets_plain_mail_when_starttls_is_off():
    with SmtpServer() as plain:
        email(plain.port, starttls=False).send(run_completed())

    [mail] = plain.mails
    assert (mail.tls, mail.login, mail.rcpt_tos) == (False, None, TEAM)


def test_a_server_that_does_not_offer_starttls_is_refused_rather_than_mailed_in_clear():
    with (
        SmtpServer() as plain,
        pytest.raises(PermanentError, match="does not offer STARTTLS"),
    ):
        email(plain.port).send(run_completed())

    assert plain.mails == []


def test_a_refused_login_is_permanent_and_never_shows_the_password(relay, ca_file):
    wrong = "Wr0ng-password-2718281828"

    with pytest.raises(PermanentError) as raised:
        logged_in(relay.port, ca_file, password=wrong).send(run_completed())

    assert str(raised.value) == "email-4: SMTP login refused (535)"
    assert wrong not in shows(raised.value)
    assert relay.recording.logins  # smtplib tries each mechanism the server offers
    assert set(relay.recording.logins) == {(USER, False)}
    assert relay.mails == []


def test_a_certificate_the_channel_does_not_trust_is_permanent(relay):
    with pytest.raises(PermanentError, match="certificate did not verify"):
        email(relay.port, username=USER, password=PASSWORD).send(run_completed())

    assert relay.recording.logins == []  # the password never left


def test_a_temporary_smtp_failure_is_retried_later_and_then_mailed(ca, ca_file):
    with SmtpServer(ca=ca, credentials=(USER, PASSWORD), answers=["451 4.3.0 Try again"]) as relay:
        channel = logged_in(relay.port, ca_file)
        with pytest.raises(TransientError, match="^email-4: SMTP server answered 451$"):
            channel.send(run_completed())

        channel.send(run_completed())

    assert len(relay.mails) == 1


def test_a_permanent_smtp_refusal_is_permanent(ca, ca_file):
    with (
        SmtpServer(ca=ca, credentials=(USER, PASSWORD), answers=["554 5.7.1 Rejected"]) as relay,
        pytest.raises(PermanentError, match="^email-4: SMTP server answered 554$"),
    ):
        logged_in(relay.port, ca_file).send(run_completed())


def test_an_unreachable_smtp_server_is_retried_later():
    with SmtpServer() as stopped:
        port = stopped.port

    with pytest.raises(TransientError, match="^email-4: ConnectionRefusedError$"):
        email(port, timeout_seconds=2).send(run_completed())


def test_the_smtp_password_is_a_secret_in_the_settings(ca_file):
    settings = logged_in(1, ca_file)._settings

    assert PASSWORD not in repr(settings) + str(settings.model_dump())

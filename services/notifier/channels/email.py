"""E-mail over SMTP (stdlib smtplib): a plain-text message per notification.

STARTTLS is on by default and never silently skipped: a server that does not offer it is
refused. 4xx SMTP answers, timeouts and dropped connections are TransientError; 5xx
answers, a refused login and a certificate that does not verify are PermanentError.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from email.message import EmailMessage
from email.utils import formatdate

from services.common.errors import PermanentError, TransientError
from services.common.events import Envelope, ManifestCommitted, RunCompleted, ScanFailed
from services.common.logging import get_logger
from services.common.settings import EmailChannelSettings
from services.notifier.channels._format import clip, commit_url, duration, scan
from services.notifier.channels.base import RoutedChannel
from services.notifier.messages import summary
from services.notifier.routing import Route


class EmailChannel(RoutedChannel):
    def __init__(self, settings: EmailChannelSettings, index: int = 0) -> None:
        super().__init__(settings.channel_name(index), Route.of(settings))
        self._settings = settings

    def send(self, event: Envelope, environment: str | None = None) -> None:
        self._deliver(compose(event, self._settings, self.name, environment))

    def _deliver(self, message: EmailMessage) -> None:
        settings, name = self._settings, self.name
        try:
            with smtplib.SMTP(
                settings.host,
                settings.port,
                local_hostname=socket.gethostname(),  # getfqdn() can hang without DNS
                timeout=settings.timeout_seconds,
            ) as smtp:
                if settings.starttls:
                    cafile = str(settings.ca_file) if settings.ca_file else None
                    smtp.starttls(context=ssl.create_default_context(cafile=cafile))
                if settings.username is not None and settings.password is not None:
                    smtp.login(
                        settings.username.get_secret_value(), settings.password.get_secret_value()
                    )
                refused = smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            kind = TransientError if any(400 <= code < 500 for code in codes) else PermanentError
            raise kind(f"{name}: every recipient refused (SMTP {sorted(set(codes))})") from None
        except smtplib.SMTPAuthenticationError as exc:
            raise PermanentError(f"{name}: SMTP login refused ({exc.smtp_code})") from None
        except smtplib.SMTPNotSupportedError:
            raise PermanentError(
                f"{name}: the SMTP server does not offer STARTTLS or AUTH"
            ) from None
        except smtplib.SMTPServerDisconnected:
            raise TransientError(f"{name}: the SMTP server closed the connection") from None
        except smtplib.SMTPResponseException as exc:
            kind = TransientError if 400 <= exc.smtp_code < 500 else PermanentError
            raise kind(f"{name}: SMTP server answered {exc.smtp_code}") from None
        except smtplib.SMTPException as exc:
            raise TransientError(f"{name}: {type(exc).__name__}") from None
        except ssl.SSLCertVerificationError:
            raise PermanentError(f"{name}: the SMTP server's certificate did not verify") from None
        except OSError as exc:  # refused, unreachable, timed out, TLS failures
            raise TransientError(f"{name}: {type(exc).__name__}") from None
        if refused:
            get_logger().warning(
                "some recipients refused the notification", channel=name, refused=sorted(refused)
            )


def compose(
    event: Envelope,
    settings: EmailChannelSettings,
    channel: str = "email",
    environment: str | None = None,
) -> EmailMessage:
    """The message for an event. Pure."""
    message = EmailMessage()
    headline = " ".join(summary(event, environment).splitlines()[0].split())
    message["Subject"] = clip(f"{settings.subject_prefix} {headline}".strip(), 200)
    message["From"] = settings.from_
    message["To"] = ", ".join(settings.to)
    message["Date"] = formatdate(event.occurred_at.timestamp(), usegmt=True)
    message["Message-ID"] = f"<{event.event_id}.{channel}@shipline>"
    message["X-Shipline-Run"] = event.run_id
    message["X-Shipline-Event"] = event.type
    message.set_content(text(event, settings.commit_url_template, environment))
    return message


def text(event: Envelope, template: str | None = None, environment: str | None = None) -> str:
    lines = [summary(event, environment), ""]
    match event:
        case RunCompleted():
            if link := commit_url(template, event.repository, event.commit):
                lines.append(f"Commit:   {link}")
            lines += [f"Run:      {event.run_id}", f"Duration: {duration(event.seconds)}"]
            for name in sorted(event.services):
                service = event.services[name]
                lines += ["", f"{name}: {service.status}"]
                lines += [f"  image:    {service.image or '-'}"]
                lines += [f"  digest:   {service.digest or '-'}"]
                lines += [f"  scan:     {scan(service)}"]
                lines += [f"  duration: {duration(service.seconds)}"]
                if service.reason and service.status != "succeeded":
                    lines += [f"  reason:   {service.reason}"]
        case ManifestCommitted() | ScanFailed():
            if link := commit_url(template, event.source.repository, event.source.commit):
                lines.append(f"Commit:   {link}")
            lines.append(f"Run:      {event.run_id}")
        case _:
            lines.append(f"Run:      {event.run_id}")
    return "\n".join(lines) + "\n"

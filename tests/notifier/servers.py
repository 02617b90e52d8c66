"""Real receivers on loopback for the channel tests: an HTTP server and an SMTP server that
record exactly what they were sent, and answer what the test scripts."""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Answer:
    status: int
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)


class HttpRecorder:
    """Records every request (method, path, headers, raw body). Answers with the next of
    ``answers`` (an Answer or a status) while any are left, then with ``status``, after
    ``delay`` seconds. ``status`` may be changed while the server runs."""

    def __init__(
        self, status: int = 200, answers: list[Answer | int] | None = None, delay: float = 0.0
    ) -> None:
        self.status = status
        self.answers: deque[Answer | int] = deque(answers or [])
        self.requests: list[Request] = []
        self.accepted: list[Request] = []  # the requests answered with a 2xx status
        self._lock = threading.Lock()
        recorder = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                raw = self.rfile.read(int(self.headers.get("content-length", "0")))
                request = Request(
                    method=self.command,
                    path=self.path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=raw,
                )
                with recorder._lock:
                    recorder.requests.append(request)
                    answer = recorder.answers.popleft() if recorder.answers else recorder.status
                    if isinstance(answer, int):
                        answer = Answer(answer)
                    if 200 <= answer.status < 300:
                        recorder.accepted.append(request)
                time.sleep(delay)
                payload = answer.body.encode()
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> HttpRecorder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass
class Mail:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    tls: bool
    login: str | None


@dataclass
class _Recording:
    credentials: tuple[str, str] | None
    answers: deque[str] = field(default_factory=deque)
    mails: list[Mail] = field(default_factory=list)
    logins: list[tuple[str, bool]] = field(default_factory=list)  # (user, accepted)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.answers:
            return self.answers.popleft()
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        login = session.auth_data.decode() if session.authenticated else None
        self.mails.append(
            Mail(
                mail_from=envelope.mail_from,
                rcpt_tos=list(envelope.rcpt_tos),
                message=message,
                tls=session.ssl is not None,
                login=login,
            )
        )
        return "250 OK"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword) or self.credentials is None:
            return AuthResult(success=False, handled=False)
        user, password = auth_data.login.decode(), auth_data.password.decode()
        accepted = (user, password) == self.credentials
        self.logins.append((user, accepted))
        return AuthResult(success=accepted, handled=False, auth_data=auth_data.login)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class SmtpServer:
    """An aiosmtpd server on loopback. With ``tls``, it offers STARTTLS with a certificate for
    127.0.0.1 from a test CA (``ca_file``) and requires it; with ``credentials`` it requires
    AUTH. ``answers`` are replies to DATA (e.g. "451 ...") used before accepting mail."""

    def __init__(
        self,
        ca: trustme.CA | None = None,
        credentials: tuple[str, str] | None = None,
        answers: list[str] | None = None,
    ) -> None:
        self.recording = _Recording(credentials, deque(answers or []))
        self.port = _free_port()
        options: dict[str, Any] = {}
        if ca is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ca.issue_cert("127.0.0.1").configure_cert(context)
            options |= {"tls_context": context, "require_starttls": True}
        if credentials is not None:
            options |= {"authenticator": self.recording.authenticate, "auth_required": True}
        self._controller = Controller(
            self.recording, hostname="127.0.0.1", port=self.port, ready_timeout=10, **options
        )

    @property
    def mails(self) -> list[Mail]:
        return self.recording.mails

    def __enter__(self) -> SmtpServer:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()

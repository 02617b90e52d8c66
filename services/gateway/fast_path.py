"""The gateway's app: FastAPI, except that POST /webhooks/<host> skips FastAPI.

Webhooks are the endpoint machines hit hardest (a busy monorepo, a host redelivering a
backlog). Route matching over the whole API, dependency solving and four middleware
layers cost more than verifying and queueing the push, so the app hands these requests
straight to the handler the FastAPI routes share (routes/webhooks.py). They are answered in
the app's own error format, and an unexpected error is logged and answered 500 the way
the app's handler does. Both paths add the security headers (security_headers.py).
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from services.common.bus import BROKER_ERRORS
from services.gateway import errors
from services.gateway.routes.webhooks import HOSTS, receive
from services.gateway.security_headers import DEFAULT_HEADERS, with_security_headers
from services.gateway.webhook import WebhookRefused, log_refusal

_SECURITY_HEADERS = [(k.lower().encode(), v.encode()) for k, v in DEFAULT_HEADERS.items()]


class Gateway(FastAPI):
    async def __call__(self, scope: Scope, receive_message: Receive, send: Send) -> None:
        host = None
        if scope["type"] == "http" and scope["method"] == "POST":
            host = HOSTS.get(scope["path"].removeprefix(scope.get("root_path", "")))
        if host is None:
            if scope["type"] == "http":
                send = with_security_headers(send)
            await super().__call__(scope, receive_message, send)
            return
        runtime, intake = self.state.runtime, self.state.intake
        headers = Headers(scope=scope)
        try:
            body = await read_body(headers, receive_message, runtime.settings.max_body_bytes)
            response: Response = await receive(host, headers, body, runtime, intake)
        except HTTPException as exc:
            if isinstance(exc, WebhookRefused):
                client = scope["client"][0] if scope.get("client") else None
                log_refusal(host, exc, headers, client)
            response = await errors.http_error(Request(scope), exc)
        except BROKER_ERRORS as exc:
            response = await errors.redis_unavailable(Request(scope), exc)
        except Exception as exc:  # noqa: BLE001 - answered like the app's 500 handler would
            response = await errors.unexpected_error(Request(scope), exc)
        await send(
            {
                "type": "http.response.start",
                "status": response.status_code,
                "headers": with_defaults(response.raw_headers),
            }
        )
        await send({"type": "http.response.body", "body": response.body})


def with_defaults(raw: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The answer's headers and each security header it does not set itself."""
    own = {name for name, _ in raw}
    return raw + [header for header in _SECURITY_HEADERS if header[0] not in own]


async def read_body(headers: Headers, receive_message: Receive, limit: int) -> bytes:
    """The raw body, refused with 413 once it exceeds `limit` bytes (declared or streamed)."""
    declared = headers.get("content-length")
    if declared and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"body larger than {limit} bytes")
    chunks, size = [], 0
    while True:
        message = await receive_message()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"body larger than {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)

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
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from services.common.bus import BROKER_ERRORS
from services.gateway import errors
from services.gateway.deps import read_body
from services.gateway.routes.webhooks import HOSTS, receive
from services.gateway.security_headers import with_security_headers
from services.gateway.webhook import WebhookRefused, log_refusal


class Gateway(FastAPI):
    async def __call__(self, scope: Scope, receive_message: Receive, send: Send) -> None:
        if scope["type"] == "http":
            send = with_security_headers(send)
        host = None
        if scope["type"] == "http" and scope["method"] == "POST":
            host = HOSTS.get(scope["path"].removeprefix(scope.get("root_path", "")))
        if host is None:
            await super().__call__(scope, receive_message, send)
            return
        runtime, intake = self.state.runtime, self.state.intake
        request = Request(scope, receive_message)
        try:
            body = await read_body(request, runtime.settings.max_body_bytes)
            response: Response = await receive(host, request.headers, body, runtime, intake)
        except HTTPException as exc:
            if isinstance(exc, WebhookRefused):
                client = request.client.host if request.client else None
                log_refusal(host, exc, request.headers, client)
            response = await errors.http_error(request, exc)
        except BROKER_ERRORS as exc:
            response = await errors.redis_unavailable(request, exc)
        except Exception as exc:  # noqa: BLE001 - answered like the app's 500 handler would
            response = await errors.unexpected_error(request, exc)
        await send(
            {
                "type": "http.response.start",
                "status": response.status_code,
                "headers": response.raw_headers,
            }
        )
        await send({"type": "http.response.body", "body": response.body})

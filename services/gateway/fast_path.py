"""POST /webhooks/<host> answered ahead of FastAPI's router and dependency injection.

Webhooks are the endpoint machines hit hardest (a busy monorepo, a host redelivering a
backlog). A pure ASGI middleware hands them straight to the same handler the FastAPI
routes use, skipping route matching over the whole API, dependency solving and the
exception middleware, which together cost more than verifying and queueing the push.
Errors take the app's own error format; anything unexpected still reaches the server
error handler (a 500 naming nothing internal).
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from services.common.bus import BROKER_ERRORS
from services.gateway import errors
from services.gateway.deps import limited_body
from services.gateway.routes.webhooks import HOSTS, receive


class WebhookFastPath:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive_message: Receive, send: Send) -> None:
        host = None
        if scope["type"] == "http" and scope["method"] == "POST":
            host = HOSTS.get(scope["path"].removeprefix(scope.get("root_path", "")))
        if host is None:
            await self.app(scope, receive_message, send)
            return
        request = Request(scope, receive_message)
        runtime, intake = request.app.state.runtime, request.app.state.intake
        try:
            body = await limited_body(request, runtime)
            response = await receive(host, request, body, runtime, intake)
        except HTTPException as exc:
            response = await errors.http_error(request, exc)
        except BROKER_ERRORS as exc:
            response = await errors.redis_unavailable(request, exc)
        await response(scope, receive_message, send)

"""Stopping the gateway without dropping a request: SIGTERM starts a drain, not an exit.

While draining, `/readyz` answers 503 at once (a load balancer that still sends here learns
it with its next probe), requests in flight run to their end, and live event streams end
(their clients reconnect to another gateway and resume from their Last-Event-ID). The server
stops listening when nothing is in flight any more, or after `drain_seconds`, then uvicorn
gives what is left its own few seconds, and the process exits 0. A second SIGTERM, or a
SIGINT, stops at once as uvicorn does.

Kubernetes sends SIGTERM after the pod's preStop sleep, when its endpoints are already gone
(deploy/kubernetes/base/gateway.yaml); its grace period covers both (docs/settings.md
"Timeouts").
"""

from __future__ import annotations

import json
import signal
import time
from types import FrameType
from typing import Any

import uvicorn
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from services.common.timeouts import GATEWAY_FINAL_SECONDS

NOT_READY = json.dumps(
    {
        "status": "unavailable",
        "components": {"gateway": {"status": "unavailable", "detail": "shutting down"}},
    }
).encode()


class Drain:
    """ASGI wrapper that counts requests in flight and answers /readyz 503 once draining."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.in_flight = 0
        self.draining = False
        self._state: Any = getattr(app, "state", None)
        if self._state is not None:
            self._state.draining = False

    def begin(self) -> None:
        self.draining = True
        if self._state is not None:
            self._state.draining = True  # live event streams look at it between reads

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.draining and scope["path"] == "/readyz":
            await _not_ready(send)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


def draining(request: Request) -> bool:
    """Whether the gateway serving `request` is shutting down (its streams should end)."""
    return bool(getattr(request.app.state, "draining", False))


async def _not_ready(send: Send) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(NOT_READY))]
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": NOT_READY})


class DrainingServer(uvicorn.Server):
    """uvicorn's server, with SIGTERM as a drain (see the module's docstring)."""

    def __init__(self, config: uvicorn.Config, drain: Drain, drain_seconds: float) -> None:
        super().__init__(config)
        self._drain = drain
        self._drain_seconds = drain_seconds
        self._drain_deadline: float | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig == signal.SIGTERM and self._drain_deadline is None and not self.should_exit:
            # Not recorded as a captured signal: uvicorn would raise it again at the end,
            # and a drained gateway should exit 0, not die of SIGTERM.
            self._drain.begin()
            self._drain_deadline = time.monotonic() + self._drain_seconds
            return
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        if self._drain_deadline is not None and not self.should_exit:
            drained = self._drain.in_flight == 0
            self.should_exit = drained or time.monotonic() >= self._drain_deadline
        return await super().on_tick(counter)


def serve(app: ASGIApp, host: str, port: int, drain_seconds: float) -> None:
    """Serve `app` until SIGTERM, then drain and exit."""
    drain = Drain(app)
    config = uvicorn.Config(
        drain,
        host=host,
        port=port,
        log_level="warning",
        timeout_graceful_shutdown=GATEWAY_FINAL_SECONDS,  # for what the drain left
    )
    server = DrainingServer(config, drain, drain_seconds)
    server.run()
    if not server.started:
        raise SystemExit(3)  # uvicorn's exit code when the server could not start

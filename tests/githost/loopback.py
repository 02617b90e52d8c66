"""A git host's API on loopback: a real HTTP server whose routes a fake host supplies.

Every exchange (request and answer) is recorded and, when a `check` is given, checked by
it; what the check finds wrong is kept in `violations` for the test to assert empty.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass(frozen=True)
class Exchange:
    method: str
    path: str  # without the query
    query: dict[str, str]
    headers: dict[str, str]  # names lower-cased
    body: bytes
    status: int
    answer: bytes
    answer_headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any = None  # JSON; None: an empty body
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[re.Match[str], dict[str, str], Any], Reply]
# Where the hosts' repository routes start: GitHub's and Gitea's `/repos/{owner}/{repo}`,
# GitLab's `/projects/{id}` (the path URL-encoded).
REPO = r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)"
PROJECT = r"/projects/(?P<project>[^/]+)"
Check = Callable[[Exchange], list[str]]


class LoopbackHost:
    """Serves `routes` ((METHOD, path regex, handler) under `prefix`) on 127.0.0.1."""

    def __init__(self, routes: list[tuple[str, str, Handler]], *, prefix: str = "") -> None:
        self.routes = [(m, re.compile(prefix + p + "$"), h) for m, p, h in routes]
        self.exchanges: list[Exchange] = []
        self.violations: list[str] = []
        self.check: Check | None = None
        self.scripted: list[Reply] = []  # answered first, in order, whatever the route
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> LoopbackHost:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close. shutdown() waits for the serving loop to notice, forever
        if it is not running (a parallel CI run hung there), so it is asked only of a live
        thread, and waited for a bounded time."""
        if self._thread.is_alive():
            stopper = threading.Thread(target=self._server.shutdown, daemon=True)
            stopper.start()
            stopper.join(timeout=10)
        self._server.server_close()

    def operations(self) -> list[tuple[str, str]]:
        return [(e.method, e.path) for e in self.exchanges]

    def _answer(self, method: str, path: str, query: dict[str, str], body: bytes) -> Reply:
        if self.scripted:
            return self.scripted.pop(0)
        payload = json.loads(body) if body else None
        for route_method, pattern, handler in self.routes:
            match = pattern.match(path)
            if match and route_method == method:
                try:
                    return handler(match, query, payload)
                except (KeyError, TypeError, ValueError) as exc:  # a request it cannot serve
                    self.violations.append(f"{method} {path}: the fake failed: {exc!r}")
                    return Reply(500, {"message": "the fake host failed"})
        return Reply(404, {"message": "Not Found"})

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        host = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length", "0")))
                url = urlsplit(self.path)
                query = dict(parse_qsl(url.query))
                with host._lock:
                    reply = host._answer(self.command, url.path, query, raw)
                    answer = b"" if reply.body is None else json.dumps(reply.body).encode()
                    headers = {"Content-Type": "application/json", **reply.headers}
                    exchange = Exchange(
                        self.command, url.path, query,
                        {k.lower(): v for k, v in self.headers.items()},
                        raw, reply.status, answer, headers,
                    )  # fmt: skip
                    host.exchanges.append(exchange)
                    if host.check is not None:
                        host.violations.extend(host.check(exchange))
                self.send_response(reply.status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        return _Handler

"""HTTP to a git host's API: the one module of services/githost importing httpx.

Timeouts, connection errors, 5xx and rate limits (429, or 403 with no requests left) are
TransientError, with the host's Retry-After when it gives one; any other answer outside
2xx is PermanentError with the host's message. Errors name the host, the method, the path
template's operation and the status: never the token (masked should a host echo it).
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from services.common.errors import PermanentError, TransientError

USER_AGENT = "shipline"
TIMEOUT_SECONDS = 20.0
MESSAGE_CHARS = 300


class RateLimited(TransientError):
    """The host asked to wait: `retry_after` seconds when it said how long."""

    def __init__(self, message: str, retry_after: float | None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class NotFound(PermanentError):
    """The host answered 404: what was asked for is not there (or the token may not see it)."""


class HostApi:
    """JSON over HTTP to one host's API with a bearer-style token header."""

    def __init__(
        self,
        host: str,
        api_url: str,
        token: str,
        *,
        auth_header: tuple[str, str],
        headers: dict[str, str] | None = None,
        timeout: float = TIMEOUT_SECONDS,
    ) -> None:
        name, prefix = auth_header
        self._host = host
        self._token = token
        self._base_url = api_url.rstrip("/") + "/"
        self._headers = {"User-Agent": USER_AGENT, name: prefix + token, **(headers or {})}
        self._timeout = timeout

    def call(
        self,
        method: str,
        path: str,
        *,
        json_body: dict[str, Any] | None = None,
        params: dict[str, str | int] | None = None,
    ) -> Any:
        """The decoded JSON answer (None for an empty one)."""
        where = f"{self._host} {method} {path.split('?')[0]}"
        try:  # a client per call: a handful of calls per run, and nothing left open
            with httpx.Client(
                base_url=self._base_url, headers=self._headers, timeout=self._timeout
            ) as client:
                response = client.request(method, path.lstrip("/"), json=json_body, params=params)
        except httpx.TransportError as exc:  # timeouts, refused or reset connections, bad TLS
            raise TransientError(f"{where}: {type(exc).__name__}") from None
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise PermanentError(f"{where}: {type(exc).__name__}") from None
        self._check(where, response)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise PermanentError(
                f"{where}: answered HTTP {response.status_code}, not JSON"
            ) from None

    def _check(self, where: str, response: httpx.Response) -> None:
        status = response.status_code
        if 200 <= status < 300:
            return
        message = self._message(response)
        said = f"{where}: answered HTTP {status}" + (f": {message}" if message else "")
        if status == 429 or _rate_limited(response):
            raise RateLimited(said, _retry_after(response))
        if status >= 500:
            raise TransientError(said)
        if status == 404:
            raise NotFound(said)
        raise PermanentError(said)

    def _message(self, response: httpx.Response) -> str:
        """The host's reason: its `message` (or `error`) and `errors`, else the body's start."""
        try:
            body = response.json()
        except ValueError:
            body = response.text
        if isinstance(body, dict):
            reason = body.get("message") or body.get("error") or body
            text = reason if isinstance(reason, str) else json.dumps(reason)
            if body.get("errors"):
                text += " " + json.dumps(body["errors"])
        else:
            text = body if isinstance(body, str) else json.dumps(body)
        if self._token:
            text = text.replace(self._token, "***")
        return " ".join(text.split())[:MESSAGE_CHARS]


def _rate_limited(response: httpx.Response) -> bool:
    # GitHub: primary limit (no requests left) and secondary limit (a Retry-After) are 403s
    if response.status_code != 403:
        return False
    headers = response.headers
    return headers.get("x-ratelimit-remaining") == "0" or "retry-after" in headers


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    return float(value) if value.isdigit() else None

"""HTTP delivery for the channels: the one module importing httpx, its errors translated.

Timeouts, connection errors, 5xx and rate limits (429, or GitHub's 403 with no requests
left) are TransientError; any other answer outside 2xx is PermanentError. Errors name the
channel and the status, never the URL (a Slack URL is a credential) nor a header.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import httpx

from services.common.errors import PermanentError, TransientError

USER_AGENT = "shipline-notifier"
EXCERPT_CHARS = 200


def post(
    channel: str,
    url: str,
    *,
    content: bytes,
    headers: Mapping[str, str],
    timeout: float,
    secrets: Iterable[str] = (),
) -> httpx.Response:
    try:
        response = httpx.post(
            url,
            content=content,
            headers={"User-Agent": USER_AGENT, **headers},
            timeout=timeout,
        )
    except httpx.UnsupportedProtocol:
        raise PermanentError(f"{channel}: the URL's scheme is not http(s)") from None
    except httpx.TransportError as exc:  # timeouts, refused or reset connections, bad TLS
        raise TransientError(f"{channel}: {type(exc).__name__}") from None
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise PermanentError(f"{channel}: {type(exc).__name__}") from None
    _check(channel, response, secrets)
    return response


def _check(channel: str, response: httpx.Response, secrets: Iterable[str]) -> None:
    status = response.status_code
    if 200 <= status < 300:
        return
    if status >= 500 or status == 429 or _rate_limited(response):
        raise TransientError(f"{channel}: answered HTTP {status}")
    detail = _excerpt(response.text, secrets)
    raise PermanentError(f"{channel}: answered HTTP {status}" + (f": {detail}" if detail else ""))


def _rate_limited(response: httpx.Response) -> bool:
    return response.status_code == 403 and response.headers.get("x-ratelimit-remaining") == "0"


def _excerpt(text: str, secrets: Iterable[str]) -> str:
    """The start of an error answer (it often says why), on one line, secrets masked."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return " ".join(text.split())[:EXCERPT_CHARS]

"""Short-lived tickets that let a browser's EventSource open an event stream.

EventSource cannot send an Authorization header, and a long-lived token in a URL would
reach access logs and browser history. A ticket is `<token n>.<expiry>.<signature>`: an
HMAC-SHA256, keyed by the token itself, over the one stream path it opens and its expiry.
Any gateway replica verifies it with the settings alone (no shared secret, no Redis); it
is worth one stream path for TICKET_SECONDS, and revoking the token revokes its tickets.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from services.common.api_tokens import ApiToken

TICKET_SECONDS = 60
STREAM_PATH = re.compile(r"^/api/v1/(events/stream|runs/[A-Za-z0-9_.-]{1,64}/events)$")
_TICKET = re.compile(r"^(\d{1,4})\.(\d{1,12})\.([A-Za-z0-9_-]{43})$")


def mint(api_tokens: list[ApiToken], index: int, path: str, now: float) -> str:
    """A ticket for the `index`-th token (0-based) to open `path` until now + TICKET_SECONDS."""
    expires = int(now) + TICKET_SECONDS
    return f"{index + 1}.{expires}.{_signature(api_tokens[index], path, expires)}"


def holder(ticket: str, path: str, api_tokens: list[ApiToken], now: float) -> int | None:
    """The index of the token that signed `ticket` for `path`, if it has not expired."""
    parsed = _TICKET.match(ticket)
    if parsed is None or not STREAM_PATH.match(path):
        return None
    index, expires = int(parsed[1]) - 1, int(parsed[2])
    if not 0 <= index < len(api_tokens) or not now <= expires <= now + TICKET_SECONDS:
        return None
    expected = _signature(api_tokens[index], path, expires)
    return index if hmac.compare_digest(expected, parsed[3]) else None


def _signature(entry: ApiToken, path: str, expires: int) -> str:
    key = entry.token.get_secret_value().encode()
    digest = hmac.new(key, f"stream-ticket\n{path}\n{expires}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

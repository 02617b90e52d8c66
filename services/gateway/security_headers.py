"""Headers every response carries unless its route set its own (the dashboard, /docs do).

The API answers JSON, never a page: no content-type sniffing, no referrer, no framing, and a
policy that lets nothing load should a browser ever render an answer.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import Message, Send

DEFAULT_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}


def with_security_headers(send: Send) -> Send:
    """`send`, adding each of DEFAULT_HEADERS that the response does not set itself."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = MutableHeaders(scope=message)
            for name, value in DEFAULT_HEADERS.items():
                headers.setdefault(name, value)
        await send(message)

    return sending

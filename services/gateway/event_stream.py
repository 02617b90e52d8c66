"""A run's events as server-sent events, live from its Redis stream.

Each blocking read (XREAD BLOCK) runs in a worker thread, so a watcher holds a thread only
while it waits, and the loop checks between reads whether the client went away. The stream
ends after the run's RunCompleted; while nothing happens a comment line keeps proxies from
closing the connection.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

import anyio
from fastapi import Header
from starlette.requests import Request
from starlette.responses import StreamingResponse

from services.common.eventlog import EventLog

MEDIA_TYPE = "text/event-stream"
BLOCK_MS = 2000  # below the Redis client's socket timeout
KEEP_ALIVE = ": keep-alive\n\n"
# The id a reconnecting EventSource sends back: a Redis stream entry id.
LastEventId = Annotated[str | None, Header(pattern=r"^\d{1,20}-\d{1,20}$")]


def wants_stream(request: Request, stream: bool) -> bool:
    return stream or MEDIA_TYPE in request.headers.get("accept", "")


def response(events: AsyncIterator[str]) -> StreamingResponse:
    """Server-sent events, never cached or buffered by a proxy."""
    return StreamingResponse(
        events,
        media_type=MEDIA_TYPE,
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def sse(entry_id: str, event: dict[str, Any]) -> str:
    data = json.dumps(event, separators=(",", ":"))
    return f"id: {entry_id}\nevent: {event.get('type', 'message')}\ndata: {data}\n\n"


async def run_events(
    request: Request,
    log: EventLog,
    run_id: str,
    finished: Callable[[], bool],
    after: str = "-",
) -> AsyncIterator[str]:
    """Events after entry `after` (a Last-Event-ID) until RunCompleted; `finished` is asked
    when a wait comes back empty, so a run that ended without one does not hang watchers."""
    while True:
        entries = await anyio.to_thread.run_sync(log.follow, run_id, after, BLOCK_MS)
        for entry_id, event in entries:
            after = entry_id
            yield sse(entry_id, event)
            if event.get("type") == "RunCompleted":
                return
        if entries:
            continue
        if await request.is_disconnected() or await anyio.to_thread.run_sync(finished):
            return
        yield KEEP_ALIVE


async def all_events(request: Request, log: EventLog, after: str) -> AsyncIterator[str]:
    """Every run's events logged after entry `after`, until the client goes away."""
    while True:
        entries = await anyio.to_thread.run_sync(log.follow_all, after, BLOCK_MS)
        for entry_id, event in entries:
            after = entry_id
            yield sse(entry_id, event)
        if await request.is_disconnected():
            return
        if not entries:
            yield KEEP_ALIVE

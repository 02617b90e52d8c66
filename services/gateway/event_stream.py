"""A run's events, or every run's, as server-sent events, live from their Redis streams.

Each wait is an asynchronous XREAD BLOCK on the event loop: an idle watcher holds no worker
thread (blocking reads in threads once let 120 idle streams take the whole pool and slow
every other endpoint to seconds), only a Redis connection, and the number of streams is
capped (stream_slots.py). Between reads the loop checks whether the client went away. A
run's stream ends after its RunCompleted; while nothing happens a comment line keeps
proxies from closing the connection.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any

import redis.asyncio
from fastapi import Depends, Header, HTTPException
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from services.common.redis_connect import connect_async
from services.common.redis_types import AsyncRedisClient, async_bytes_client
from services.common.runtime import Runtime
from services.gateway.api_models import ApiError
from services.gateway.drain import draining
from services.gateway.stream_slots import Slot, StreamSlots, TooManyStreams, owners_of

MEDIA_TYPE = "text/event-stream"
BLOCK_MS = 2000  # below the Redis client's socket timeout
KEEP_ALIVE = ": keep-alive\n\n"
# The id a reconnecting EventSource sends back: a Redis stream entry id.
LastEventId = Annotated[str | None, Header(pattern=r"^\d{1,20}-\d{1,20}$")]
Entries = list[tuple[str, dict[str, Any]]]


class LiveStreams:
    """The gateway's open event streams: their slots and the asynchronous Redis client they
    read with (one per event loop: a client is bound to the loop it was made on)."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self.keys = runtime.keyspace
        self.slots = StreamSlots(runtime.settings.limits)
        self._clients: dict[asyncio.AbstractEventLoop, redis.asyncio.Redis] = {}

    def open(self, request: Request) -> Slot:
        """A slot for the stream `request` asks for, or 429 with the reason."""
        try:
            return self.slots.take(owners_of(request, self._runtime.settings.api_tokens))
        except TooManyStreams as exc:
            raise HTTPException(429, exc.reason, headers={"Retry-After": "10"}) from None

    def _client(self) -> redis.asyncio.Redis:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            client = self._clients[loop] = connect_async(
                self._runtime.redis_url,
                socket_connect_timeout=3,
                socket_timeout=BLOCK_MS / 1000 + 10,
                max_connections=self._runtime.settings.limits.event_streams_total + 16,
            )
        return client

    async def follow(self, stream: str, after: str, block_ms: int = BLOCK_MS) -> Entries:
        """Entries of `stream` after entry `after` ("-": from the first), waiting up to
        `block_ms` for one to arrive; an empty list when none did."""
        start = "0-0" if after == "-" else after
        answer = await self._bytes_client().xread({stream: start}, count=100, block=block_ms)
        entries = answer[0][1] if answer else []
        return [(entry_id.decode(), json.loads(fields[b"event"])) for entry_id, fields in entries]

    async def run_status(self, run_id: str) -> str:
        status = await self._bytes_client().hget(self.keys.run(run_id), "status")
        return status.decode() if status else ""

    def _bytes_client(self) -> AsyncRedisClient:
        return async_bytes_client(self._client())

    async def aclose(self) -> None:
        """Close the client made on the running loop (at the server's shutdown)."""
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()


async def get_live_streams(request: Request) -> LiveStreams:
    live: LiveStreams = request.app.state.live_streams
    return live


LiveStreamsDep = Annotated[LiveStreams, Depends(get_live_streams)]
TOO_MANY: dict[int | str, dict[str, Any]] = {
    429: {"model": ApiError, "description": "too many open event streams (limits.event_streams_*)"}
}


def wants_stream(request: Request, stream: bool) -> bool:
    return stream or MEDIA_TYPE in request.headers.get("accept", "")


class _SlottedStream(StreamingResponse):
    """A stream that gives its slot back when it ends, however it ends."""

    def __init__(self, events: AsyncIterator[str], slot: Slot, **kwargs: Any) -> None:
        super().__init__(events, **kwargs)
        self._slot = slot

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._slot.release()


def response(events: AsyncIterator[str], slot: Slot) -> StreamingResponse:
    """Server-sent events, never cached or buffered by a proxy."""
    return _SlottedStream(
        events,
        slot,
        media_type=MEDIA_TYPE,
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def sse(entry_id: str, event: dict[str, Any]) -> str:
    data = json.dumps(event, separators=(",", ":"))
    return f"id: {entry_id}\nevent: {event.get('type', 'message')}\ndata: {data}\n\n"


async def run_events(
    request: Request,
    live: LiveStreams,
    run_id: str,
    finished: Callable[[], Awaitable[bool]],
    after: str = "-",
) -> AsyncIterator[str]:
    """Events after entry `after` (a Last-Event-ID) until RunCompleted; `finished` is asked
    when a wait comes back empty, so a run that ended without one does not hang watchers."""
    while True:
        entries = await live.follow(live.keys.run_events(run_id), after)
        for entry_id, event in entries:
            after = entry_id
            yield sse(entry_id, event)
            if event.get("type") == "RunCompleted":
                return
        if entries:
            continue
        if await request.is_disconnected() or draining(request) or await finished():
            return
        yield KEEP_ALIVE


async def all_events(request: Request, live: LiveStreams, after: str) -> AsyncIterator[str]:
    """Every run's events logged after entry `after`, until the client goes away."""
    while True:
        entries = await live.follow(live.keys.events, after)
        for entry_id, event in entries:
            after = entry_id
            yield sse(entry_id, event)
        if await request.is_disconnected() or draining(request):
            return
        if not entries:
            yield KEEP_ALIVE

"""Group commit: the Redis commands of concurrent requests share writes and round trips.

Each caller awaits its own command's reply, so an answer still means "written". The
commands queued while the loop was busy go out together in one write, and a write does
not wait for the replies of the one before: replies are read back in order by one reader,
as a pipeline's are. A request then never waits for another batch's round trip; under
load a webhook costs a share of a write and of a read instead of a whole round trip.

A batch is written as one packed buffer on a connection held from the client's pool: no
pipeline object, no per-command response callback (a reply comes back as Redis sent it),
no retry (a lost reply must not run a command twice). Packing the commands here, rather
than through redis-py's pure-Python packer, halves what a webhook's script call costs the
gateway. When a write or a read fails, every command written on that connection and not
yet answered gets the error and the connection is dropped, never reused with replies still
unread; later commands go out on a new one.

The async client is bound to the event loop it was made on: one is made per loop (the
server has one; a test client may start several).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ResponseError

ClientFactory = Callable[[], redis.asyncio.Redis]


def pack(command: Sequence[Any]) -> bytes:
    """One command in RESP, as redis-py's encoder would send it (str as UTF-8, numbers by
    their repr, bytes unchanged)."""
    parts = [b"*%d\r\n" % len(command)]
    for arg in command:
        if isinstance(arg, bytes):
            data = arg
        elif isinstance(arg, str):
            data = arg.encode()
        elif isinstance(arg, int | float) and not isinstance(arg, bool):
            data = repr(arg).encode()
        else:
            raise TypeError(f"a Redis argument must be bytes, str, int or float, not {arg!r}")
        parts += (b"$%d\r\n" % len(data), data, b"\r\n")
    return b"".join(parts)


@dataclass
class _Wire:
    """One connection and the replies still owed on it, oldest first."""

    connection: AbstractConnection
    owed: deque[asyncio.Future[Any]] = field(default_factory=deque)
    reader: asyncio.Task[None] | None = None  # held: the loop keeps only weak references
    broken: bool = False


@dataclass
class _Lane:
    loop: asyncio.AbstractEventLoop
    client: redis.asyncio.Redis
    waiting: list[tuple[bytes, asyncio.Future[Any]]] = field(default_factory=list)
    writer: asyncio.Task[None] | None = None
    wire: _Wire | None = None


class GroupCommit:
    def __init__(self, client_factory: ClientFactory) -> None:
        self._client_factory = client_factory
        self._lane: _Lane | None = None

    async def execute(self, *command: Any) -> Any:
        """Run one Redis command in the next write and return its reply (or raise its
        error)."""
        packed = pack(command)
        lane = self._for_running_loop()
        reply: asyncio.Future[Any] = lane.loop.create_future()
        lane.waiting.append((packed, reply))
        if lane.writer is None:
            lane.writer = lane.loop.create_task(self._write(lane))
        return await reply

    async def aclose(self) -> None:
        """Close the connections made on the running loop (at the server's shutdown)."""
        lane, self._lane = self._lane, None
        if lane is None or lane.loop is not asyncio.get_running_loop():
            return
        if lane.writer is not None:
            await asyncio.wait([lane.writer])
        wire = lane.wire
        if wire is not None and not wire.broken:
            if wire.reader is not None:
                await asyncio.wait([wire.reader])
            await lane.client.connection_pool.release(wire.connection)
        await lane.client.aclose()

    def _for_running_loop(self) -> _Lane:
        loop = asyncio.get_running_loop()
        if self._lane is None or self._lane.loop is not loop:
            self._lane = _Lane(loop, self._client_factory())
        return self._lane

    async def _write(self, lane: _Lane) -> None:
        try:
            while lane.waiting:
                batch, lane.waiting = lane.waiting, []
                try:
                    wire = await self._wire(lane)
                except Exception as exc:  # noqa: BLE001 - every waiter gets the failure
                    for _, reply in batch:
                        if not reply.done():
                            reply.set_exception(exc)
                    continue
                wire.owed.extend(reply for _, reply in batch)
                if wire.reader is None:
                    wire.reader = lane.loop.create_task(self._read(lane, wire))
                try:
                    await wire.connection.send_packed_command(
                        b"".join(packed for packed, _ in batch), check_health=False
                    )
                except BaseException as exc:
                    await self._drop(lane, wire, exc)
                    if isinstance(exc, asyncio.CancelledError):
                        for _, reply in lane.waiting:
                            reply.cancel()
                        raise
        finally:
            lane.writer = None

    async def _wire(self, lane: _Lane) -> _Wire:
        if lane.wire is None or lane.wire.broken:
            connection = await lane.client.connection_pool.get_connection()
            lane.wire = _Wire(connection)
        elif not lane.wire.owed:
            # Idle, it may have been closed by Redis (a restart, a timeout, CLIENT KILL):
            # checked and reconnected as the pool does for a connection it hands out, so the
            # first webhook after a Redis restart is not answered 503. Nothing is owed on
            # it, so no reply can be lost and nothing is sent twice.
            await lane.client.connection_pool.ensure_connection(lane.wire.connection)
        return lane.wire

    async def _read(self, lane: _Lane, wire: _Wire) -> None:
        try:
            while wire.owed and not wire.broken:
                try:
                    answer = await wire.connection.read_response()
                except ResponseError as exc:  # this command's own error: read on
                    answer = exc
                except BaseException as exc:
                    await self._drop(lane, wire, exc)
                    if isinstance(exc, asyncio.CancelledError):
                        raise
                    return
                if wire.broken:  # dropped by the writer meanwhile: every waiter has the error
                    return
                reply = wire.owed.popleft()
                if reply.done():
                    continue
                if isinstance(answer, BaseException):
                    reply.set_exception(answer)
                else:
                    reply.set_result(answer)
        finally:
            wire.reader = None

    async def _drop(self, lane: _Lane, wire: _Wire, error: BaseException) -> None:
        """Fail (or, cancelled, cancel) every reply still owed on `wire`, close its
        connection and give it back to the pool, which connects it afresh when next used."""
        if wire.broken:
            return
        wire.broken = True
        while wire.owed:
            reply = wire.owed.popleft()
            if isinstance(error, asyncio.CancelledError):
                reply.cancel()
            elif not reply.done():
                reply.set_exception(error)
        await wire.connection.disconnect(nowait=True)
        await lane.client.connection_pool.release(wire.connection)

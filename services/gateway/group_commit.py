"""Group commit: the Redis commands of concurrent requests sent in one pipelined round trip.

Each caller awaits its own command's reply, so an answer still means "written"; while one
batch is on the wire the next one gathers. Under load a webhook then costs a share of a
round trip instead of a whole one; alone, it costs one round trip as before.

The async client is bound to the event loop it was made on: one is made per loop (the
server has one; a test client may start several).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio

ClientFactory = Callable[[], redis.asyncio.Redis]


@dataclass
class _Batches:
    loop: asyncio.AbstractEventLoop
    client: redis.asyncio.Redis
    waiting: list[tuple[tuple[Any, ...], asyncio.Future[Any]]] = field(default_factory=list)
    sender: asyncio.Task[None] | None = None  # held: the loop keeps only weak references


class GroupCommit:
    def __init__(self, client_factory: ClientFactory) -> None:
        self._client_factory = client_factory
        self._batches: _Batches | None = None

    async def execute(self, *command: Any) -> Any:
        """Run one Redis command in the next batch and return its reply (or raise its error)."""
        batches = self._for_running_loop()
        reply: asyncio.Future[Any] = batches.loop.create_future()
        batches.waiting.append((command, reply))
        if batches.sender is None:
            batches.sender = batches.loop.create_task(self._send(batches))
        return await reply

    async def aclose(self) -> None:
        """Close the connections made on the running loop (at the server's shutdown)."""
        batches, self._batches = self._batches, None
        if batches is not None and batches.loop is asyncio.get_running_loop():
            if batches.sender is not None:
                await asyncio.wait([batches.sender])
            await batches.client.aclose()

    def _for_running_loop(self) -> _Batches:
        loop = asyncio.get_running_loop()
        if self._batches is None or self._batches.loop is not loop:
            self._batches = _Batches(loop, self._client_factory())
        return self._batches

    async def _send(self, batches: _Batches) -> None:
        try:
            while batches.waiting:
                batch, batches.waiting = batches.waiting, []
                pipe = batches.client.pipeline(transaction=False)
                for command, _ in batch:
                    pipe.execute_command(*command)
                try:
                    replies = await pipe.execute(raise_on_error=False)
                except asyncio.CancelledError:
                    for _, reply in batch + batches.waiting:
                        reply.cancel()
                    raise
                except Exception as exc:  # noqa: BLE001 - every waiter gets the failure
                    replies = [exc] * len(batch)
                for (_, reply), answer in zip(batch, replies, strict=True):
                    if reply.done():
                        continue
                    if isinstance(answer, BaseException):
                        reply.set_exception(answer)
                    else:
                        reply.set_result(answer)
        finally:
            batches.sender = None

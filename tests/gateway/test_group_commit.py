"""Group commit on a real Redis: concurrent commands share round trips, and each caller
gets its own reply or error."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis
import redis.asyncio
from redis.asyncio.connection import Connection

from services.gateway.group_commit import GroupCommit, pack


class CountingConnection(Connection):
    """A real connection that counts the writes it sends (one per round trip)."""

    writes = 0

    async def send_packed_command(self, *args: Any, **kwargs: Any) -> None:
        type(self).writes += 1
        await super().send_packed_command(*args, **kwargs)


def run(commit: GroupCommit, *commands: tuple[Any, ...]) -> list[Any]:
    async def together() -> list[Any]:
        try:
            return await asyncio.gather(
                *(commit.execute(*command) for command in commands), return_exceptions=True
            )
        finally:
            await commit.aclose()

    return asyncio.run(together())


def test_concurrent_commands_share_round_trips_and_each_gets_its_reply(
    redis_url: str, redis_client: redis.Redis
) -> None:
    CountingConnection.writes = 0
    commit = GroupCommit(
        lambda: redis.asyncio.Redis.from_url(redis_url, connection_class=CountingConnection)
    )

    replies = run(commit, *[("INCR", "counter")] * 50)

    assert sorted(replies) == list(range(1, 51))
    assert 1 <= CountingConnection.writes < 50
    assert redis_client.get("counter") == b"50"


def test_one_commands_error_is_its_own(redis_url: str, redis_client: redis.Redis) -> None:
    redis_client.set("text", "not a number")
    commit = GroupCommit(lambda: redis.asyncio.Redis.from_url(redis_url))

    good, bad, also_good = run(commit, ("INCR", "n"), ("INCR", "text"), ("INCR", "n"))

    assert (good, also_good) == (1, 2)
    assert isinstance(bad, redis.ResponseError)


def test_every_waiter_gets_the_error_when_redis_is_unreachable() -> None:
    commit = GroupCommit(lambda: redis.asyncio.Redis.from_url("redis://127.0.0.1:1/0"))

    replies = run(commit, *[("INCR", "n")] * 5)

    assert all(isinstance(reply, redis.ConnectionError) for reply in replies)


def test_a_new_event_loop_gets_a_client_of_its_own(
    redis_url: str, redis_client: redis.Redis
) -> None:
    commit = GroupCommit(lambda: redis.asyncio.Redis.from_url(redis_url))

    assert run(commit, ("INCR", "n")) == [1]
    assert run(commit, ("INCR", "n")) == [2]


def test_commands_are_sent_as_redis_py_would_send_them(
    redis_url: str, redis_client: redis.Redis
) -> None:
    command = ("SET", "ключ", b"\x00bytes\r\n", 12, 0.5, "é")
    assert pack(command) == Connection().pack_command(*command)[0]
    commit = GroupCommit(lambda: redis.asyncio.Redis.from_url(redis_url))

    replies = run(commit, ("HSET", "h", "text", "é", "count", 12, "share", 0.5))

    assert replies == [3]
    assert redis_client.hgetall("h") == {b"text": "é".encode(), b"count": b"12", b"share": b"0.5"}


def test_an_argument_redis_cannot_take_is_refused_before_anything_is_sent() -> None:
    with pytest.raises(TypeError):
        pack(("SET", "flag", True))


def test_a_connection_dropped_mid_batch_is_not_reused_and_the_next_batch_reconnects(
    redis_url: str, redis_client: redis.Redis
) -> None:
    commit = GroupCommit(lambda: redis.asyncio.Redis.from_url(redis_url))

    async def scenario() -> list[Any]:
        try:
            first = await commit.execute("INCR", "n")
            blocked = asyncio.ensure_future(commit.execute("BLPOP", "nothing", 5))
            await asyncio.sleep(0.2)
            redis_client.client_kill_filter(_type="normal", skipme=True)
            dropped = await asyncio.gather(blocked, return_exceptions=True)
            again = await commit.execute("INCR", "n")
            return [first, *dropped, again]
        finally:
            await commit.aclose()

    first, dropped, again = asyncio.run(scenario())

    assert first == 1
    assert isinstance(dropped, redis.ConnectionError)
    assert again == 2
    assert redis_client.get("n") == b"2"


def test_an_idle_connection_redis_closed_is_replaced_before_the_next_command(
    redis_url: str, redis_client: redis.Redis
) -> None:
    """As after a Redis restart: the first command after it is answered, not failed."""
    commit = GroupCommit(lambda: redis.asyncio.Redis.from_url(redis_url))

    async def scenario() -> list[Any]:
        try:
            first = await commit.execute("INCR", "n")
            redis_client.client_kill_filter(_type="normal", skipme=True)
            await asyncio.sleep(0.1)
            return [first, await commit.execute("INCR", "n")]
        finally:
            await commit.aclose()

    assert asyncio.run(scenario()) == [1, 2]
    assert redis_client.get("n") == b"2"


def test_a_command_is_written_without_waiting_for_the_replies_of_the_one_before(
    redis_url: str,
) -> None:
    CountingConnection.writes = 0
    commit = GroupCommit(
        lambda: redis.asyncio.Redis.from_url(redis_url, connection_class=CountingConnection)
    )

    async def scenario() -> tuple[int, bool, list[Any]]:
        try:
            slow = asyncio.ensure_future(commit.execute("BLPOP", "nothing", 0.3))
            await asyncio.sleep(0.1)
            before = CountingConnection.writes
            fast = asyncio.ensure_future(commit.execute("INCR", "written-while-blocked"))
            await asyncio.sleep(0.05)
            written, answered = CountingConnection.writes - before, slow.done()
            return written, answered, list(await asyncio.gather(slow, fast))
        finally:
            await commit.aclose()

    written, answered, replies = asyncio.run(scenario())

    assert (written, answered) == (1, False)
    assert replies == [None, 1]

"""Group commit on a real Redis: concurrent commands share round trips, and each caller
gets its own reply or error."""

from __future__ import annotations

import asyncio
from typing import Any

import redis
import redis.asyncio

from services.gateway.group_commit import GroupCommit


class CountingRedis(redis.asyncio.Redis):
    """A real client that counts the pipelines it sends (one per round trip)."""

    pipelines = 0

    def pipeline(self, *args: Any, **kwargs: Any) -> Any:
        type(self).pipelines += 1
        return super().pipeline(*args, **kwargs)


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
    CountingRedis.pipelines = 0
    commit = GroupCommit(lambda: CountingRedis.from_url(redis_url))

    replies = run(commit, *[("INCR", "counter")] * 50)

    assert sorted(replies) == list(range(1, 51))
    assert 1 <= CountingRedis.pipelines < 50
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

"""The Redis client as Shipline uses it: the few commands it calls, with the replies it relies on.

redis-py types every reply loosely (``bytes | str``, and for some commands ``Awaitable |
Any``), because a client made with ``decode_responses=True`` answers ``str``. Shipline's
clients never are (services/common/redis_connect.py; the tests' too), so every reply is
``bytes``: :func:`bytes_client` checks that once, where a store takes its client, and from
there mypy checks every use against these protocols.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from typing import Any, Literal, Protocol, cast

import redis
import redis.asyncio

Value = str | bytes | int | float  # what a command stores (redis-py encodes numbers)
StreamEntry = tuple[bytes, dict[bytes, bytes]]  # (entry id, fields)
# XREAD's reply: one (stream name, entries) pair per stream that had entries, [] when none
StreamReply = list[tuple[bytes, list[StreamEntry]]]
Members = set[bytes]  # a set's members (named here: inside RedisClient, `set` is SET)


class RedisPipeline(Protocol):
    """Commands queued by a pipeline; `execute` sends them and returns their replies."""

    def delete(self, *names: str) -> object: ...
    def get(self, name: str) -> object: ...
    def hdel(self, name: str, *keys: str) -> object: ...
    def hget(self, name: str, key: str) -> object: ...
    def hincrby(self, name: str, key: str, amount: int = 1) -> object: ...
    def hset(
        self,
        name: str,
        key: str | None = None,
        value: Value | None = None,
        mapping: Mapping[str, Value] | None = None,
    ) -> object: ...
    def hsetnx(self, name: str, key: str, value: Value) -> object: ...
    def sadd(self, name: str, *values: Value) -> object: ...
    def scard(self, name: str) -> object: ...
    def srem(self, name: str, *values: Value) -> object: ...
    def xadd(
        self,
        name: str,
        fields: Mapping[str, Value],
        maxlen: int | None = None,
        approximate: bool = True,
    ) -> object: ...
    def zadd(self, name: str, mapping: Mapping[str, float]) -> object: ...
    def execute(self) -> list[Any]: ...


class RedisClient(Protocol):
    """A synchronous client whose replies are bytes (no ``decode_responses``)."""

    def get(self, name: str) -> bytes | None: ...
    def getdel(self, name: str) -> bytes | None: ...
    def set(
        self,
        name: str,
        value: Value,
        ex: int | None = None,
        px: int | None = None,
        nx: bool = False,
    ) -> bool | None: ...
    def exists(self, *names: str) -> int: ...
    def delete(self, *names: str) -> int: ...
    def scan_iter(self, match: str | None = None, count: int | None = None) -> Iterator[bytes]: ...
    def hget(self, name: str, key: str) -> bytes | None: ...
    def hmget(self, name: str, keys: Sequence[str]) -> list[bytes | None]: ...
    def hgetall(self, name: str) -> dict[bytes, bytes]: ...
    def hset(
        self,
        name: str,
        key: str | None = None,
        value: Value | None = None,
        mapping: Mapping[str, Value] | None = None,
    ) -> int: ...
    def hsetnx(self, name: str, key: str, value: Value) -> int | bool: ...
    def smembers(self, name: str) -> Members: ...
    def sadd(self, name: str, *values: Value) -> int: ...
    def srem(self, name: str, *values: Value) -> int: ...
    def expire(self, name: str, time: int) -> bool: ...
    def llen(self, name: str) -> int: ...
    def zcard(self, name: str) -> int: ...
    def zadd(self, name: str, mapping: Mapping[str, Value], nx: bool = False) -> int: ...
    def zrem(self, name: str, *values: Value) -> int: ...
    def zrangebyscore(
        self,
        name: str,
        min: float | str,
        max: float | str,
        start: int | None = None,
        num: int | None = None,
    ) -> list[bytes]: ...
    def zrevrange(self, name: str, start: int, end: int) -> list[bytes]: ...
    def zrevrangebyscore(
        self,
        name: str,
        max: float | str,
        min: float | str,
        start: int | None = None,
        num: int | None = None,
        withscores: Literal[True] = True,
    ) -> list[tuple[bytes, float]]: ...
    def xrange(
        self, name: str, min: str = "-", max: str = "+", count: int | None = None
    ) -> list[StreamEntry]: ...
    def xrevrange(
        self, name: str, max: str = "+", min: str = "-", count: int | None = None
    ) -> list[StreamEntry]: ...
    def xread(
        self, streams: Mapping[str, str], count: int | None = None, block: int | None = None
    ) -> StreamReply: ...
    def eval(self, script: str, numkeys: int, *keys_and_args: Value) -> Any: ...
    def register_script(self, script: str) -> Callable[..., Any]: ...
    def pipeline(self, transaction: bool = True) -> RedisPipeline: ...


class AsyncRedisClient(Protocol):
    """An asyncio client whose replies are bytes (the gateway's event streams)."""

    def hget(self, name: str, key: str) -> Awaitable[bytes | None]: ...
    def xread(
        self, streams: Mapping[str, str], count: int | None = None, block: int | None = None
    ) -> Awaitable[StreamReply]: ...


def bytes_client(client: redis.Redis | RedisClient) -> RedisClient:
    """`client` as a :class:`RedisClient`; raises ValueError if it decodes replies to str."""
    _refuse_decoding(client)
    return cast(RedisClient, client)


def async_bytes_client(client: redis.asyncio.Redis) -> AsyncRedisClient:
    """`client` as an :class:`AsyncRedisClient`; raises ValueError if it decodes replies."""
    _refuse_decoding(client)
    return cast(AsyncRedisClient, client)


def _refuse_decoding(client: object) -> None:
    options = getattr(getattr(client, "connection_pool", None), "connection_kwargs", None)
    if isinstance(options, Mapping) and options.get("decode_responses"):
        raise ValueError("Shipline's Redis clients answer bytes: make it without decode_responses")

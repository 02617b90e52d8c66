"""The commits whose whole shipline.yaml was checked clean against them (services/detector/
fit.py), kept in Redis by the detector, the only writer. A push from a recorded commit is
checked only where its diff could have broken something.

A record that cannot be read or written costs time, never correctness: the next push is
checked whole.
"""

from __future__ import annotations

from datetime import timedelta

import redis

from services.common.keyspace import DEFAULT_KEYSPACE, Keyspace
from services.common.logging import get_logger
from services.common.redis_types import RedisClient, bytes_client

RECORD_TTL = timedelta(days=7)  # a branch pushed to less often is checked whole again

# KEYS: before's record, after's; ARGV: the conditions, the record's seconds to live.
_EXTEND = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[2])
return 1
"""


class RedisCheckedCommits:
    """`keys.project_checked(repository, commit)` → the conditions it was checked under."""

    def __init__(
        self,
        client: redis.Redis | RedisClient,
        ttl: timedelta = RECORD_TTL,
        *,
        keys: Keyspace = DEFAULT_KEYSPACE,
    ) -> None:
        self._redis, self._ttl, self._keys = bytes_client(client), ttl, keys
        self._extend = self._redis.register_script(_EXTEND)

    def is_clean(self, repository: str, commit: str, conditions: str) -> bool:
        try:
            value = self._redis.get(self._keys.project_checked(repository, commit))
        except redis.RedisError as exc:
            get_logger().warning("check record unreadable", error=type(exc).__name__)
            return False
        return value == conditions.encode()

    def mark_clean(self, repository: str, commit: str, conditions: str) -> None:
        try:
            self._redis.set(
                self._keys.project_checked(repository, commit), conditions, ex=seconds(self._ttl)
            )
        except redis.RedisError as exc:
            get_logger().warning("check record not written", error=type(exc).__name__)

    def extend(self, repository: str, before: str, after: str, conditions: str) -> bool:
        """Record `after` clean if `before` is recorded clean under the same conditions, in
        one round trip (the steady push's only cost); whether it was."""
        keys = [self._keys.project_checked(repository, c) for c in (before, after)]
        try:
            return bool(self._extend(keys=keys, args=[conditions, seconds(self._ttl)]))
        except redis.RedisError as exc:
            get_logger().warning("check record not extended", error=type(exc).__name__)
            return False


def seconds(ttl: timedelta) -> int:
    return int(ttl.total_seconds())

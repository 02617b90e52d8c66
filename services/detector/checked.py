"""The commits whose whole shipline.yaml was checked clean against them (services/detector/
fit.py), kept in Redis by the detector, the only writer. A push from a recorded commit is
checked only where its diff could have broken something.

A record that cannot be read or written costs time, never correctness: the next push is
checked whole.
"""

from __future__ import annotations

from datetime import timedelta

import redis

from services.common.logging import get_logger

PREFIX = "shipline:project-checked:"
RECORD_TTL = timedelta(days=7)  # a branch pushed to less often is checked whole again


def checked_key(repository: str, commit: str) -> str:
    """`shipline:project-checked:<repository>:<commit>` → the conditions it was checked under."""
    return f"{PREFIX}{repository}:{commit}"


class RedisCheckedCommits:
    def __init__(self, client: redis.Redis, ttl: timedelta = RECORD_TTL) -> None:
        self._redis, self._ttl = client, ttl

    def is_clean(self, repository: str, commit: str, conditions: str) -> bool:
        try:
            value = self._redis.get(checked_key(repository, commit))
        except redis.RedisError as exc:
            get_logger().warning("check record unreadable", error=type(exc).__name__)
            return False
        return value == conditions.encode()

    def mark_clean(self, repository: str, commit: str, conditions: str) -> None:
        try:
            self._redis.set(checked_key(repository, commit), conditions, ex=self._ttl)
        except redis.RedisError as exc:
            get_logger().warning("check record not written", error=type(exc).__name__)

"""The last build the detector sent each service of a branch to, and how it went: what tells
a build still under way, or one that failed for good, from a service simply behind.

The detector records the run when it sends a push's builds; the run store (services/common/
runs.py) says how each service of that run stands. A record that cannot be read counts as
no record: the service is then judged on its deployed commit alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import redis

from services.common.keyspace import DEFAULT_KEYSPACE, Keyspace
from services.common.logging import get_logger
from services.common.redis_types import RedisClient, bytes_client

GAVE_UP = "(gave up after "  # how a stage ends the reason of a failure past its retries

Attempt = Literal["none", "under way", "failed transiently", "failed for good", "ended"]


def attempt_of(status: str | None, reason: str = "") -> Attempt:
    """How a service's last build stands, from its status and reason in the run store."""
    if status is None:
        return "none"
    if status in ("pending", "running"):
        return "under way"
    if status == "blocked":
        return "failed for good"  # the scan gate: a new commit must change the image
    if status == "failed":
        return "failed transiently" if GAVE_UP in reason else "failed for good"
    return "ended"  # succeeded, superseded, held, skipped


class SentBuilds:
    """`keys.sent_builds(repository, ref)`: service → the run it was last sent to build in
    (one hash per branch, as many fields as services: no expiry)."""

    def __init__(
        self, client: redis.Redis | RedisClient, *, keys: Keyspace = DEFAULT_KEYSPACE
    ) -> None:
        self._redis, self._keys = bytes_client(client), keys

    def record(self, repository: str, ref: str, services: Sequence[str], run_id: str) -> None:
        if not services:
            return
        try:
            key = self._keys.sent_builds(repository, ref)
            self._redis.hset(key, mapping=dict.fromkeys(services, run_id))
        except redis.RedisError as exc:
            get_logger().warning("sent builds not recorded", error=type(exc).__name__)

    def attempts(self, repository: str, ref: str, services: Sequence[str]) -> dict[str, Attempt]:
        """Each service's last build, as the run store has it now."""
        found: dict[str, Attempt] = dict.fromkeys(services, "none")
        try:
            runs = self._redis.hgetall(self._keys.sent_builds(repository, ref))
            asked = [(s, runs[s.encode()].decode()) for s in services if s.encode() in runs]
            if not asked:
                return found
            pipe = self._redis.pipeline(transaction=False)
            for service, run_id in asked:
                pipe.hget(self._keys.run_service(run_id, service), "status")
                pipe.hget(self._keys.run_service(run_id, service), "reason")
            replies = pipe.execute()
        except redis.RedisError as exc:
            get_logger().warning("sent builds not read", error=type(exc).__name__)
            return found
        for index, (service, _) in enumerate(asked):
            status, reason = replies[2 * index], replies[2 * index + 1]
            found[service] = attempt_of(
                status.decode() if status else None, reason.decode() if reason else ""
            )
        return found

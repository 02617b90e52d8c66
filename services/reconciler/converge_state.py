"""Where the reconciler keeps, per service, its retries of a build failed on an outage.

One JSON value per service at `keys.reconciler_retry(repository, service)`, written only by
the reconciler's leader: the run it answers (the run the detector or the reconciler last
sent the service to build in), how many times it rebuilt the service since that failure
began, and when it builds it again (None: a build it started is under way). No value: the
service is not waiting for a retry. Other readers (the drift display) call retry_at.
"""

from __future__ import annotations

from collections.abc import Sequence

import redis
from pydantic import BaseModel, ConfigDict, ValidationError

from services.common.keyspace import DEFAULT_KEYSPACE, Keyspace
from services.common.redis_types import RedisClient, bytes_client


class RetryState(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    run_id: str  # the run whose transient failure this answers, or the retry started
    retries: int = 0  # retries started since the failure began
    retry_at: float | None = None  # epoch seconds; None: the retry started is under way
    started_at: float | None = None  # when the reconciler started its retry `run_id`
    settled: str = ""  # why git says not to build it (pinned, not behind): no retry till a push


class ConvergeState:
    def __init__(
        self, client: redis.Redis | RedisClient, *, keys: Keyspace = DEFAULT_KEYSPACE
    ) -> None:
        self._redis, self._keys = bytes_client(client), keys

    def get(self, repository: str, service: str) -> RetryState | None:
        return _parsed(self._redis.get(self._keys.reconciler_retry(repository, service)))

    def many(self, repository: str, services: Sequence[str]) -> dict[str, RetryState | None]:
        """Each of `services`' state, in one round trip."""
        pipe = self._redis.pipeline(transaction=False)
        for service in services:
            pipe.get(self._keys.reconciler_retry(repository, service))
        found: dict[str, RetryState | None] = {}
        for service, raw in zip(services, pipe.execute(), strict=True):
            found[service] = _parsed(raw)
        return found

    def put(self, repository: str, service: str, state: RetryState | None) -> None:
        """Store `state`, or forget the service (None)."""
        key = self._keys.reconciler_retry(repository, service)
        if state is None:
            self._redis.delete(key)
        else:
            self._redis.set(key, state.model_dump_json())

    def retry_at(self, repository: str, service: str) -> float | None:
        """When the reconciler builds `service` again (epoch seconds); None when it is not
        waiting to (never failed on an outage, a retry under way, or Redis unreadable)."""
        try:
            state = self.get(repository, service)
        except redis.RedisError:
            return None
        return None if state is None else state.retry_at


def _parsed(raw: bytes | None) -> RetryState | None:
    if raw is None:
        return None
    try:
        return RetryState.model_validate_json(raw)
    except ValidationError:
        return None  # unreadable: the next pass writes it afresh


def retry_at(
    client: redis.Redis | RedisClient,
    repository: str,
    service: str,
    keys: Keyspace = DEFAULT_KEYSPACE,
) -> float | None:
    """ConvergeState(client, keys=keys).retry_at(repository, service)."""
    return ConvergeState(client, keys=keys).retry_at(repository, service)

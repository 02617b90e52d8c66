"""Each service's drift, for the services table: how far what it runs lags behind its
default branch (the survey's deployed and desired commits, services/committer/drift.py),
how its last build went, and when the reconciler builds it again.

The last build is the run the detector last sent the service to build in on the default
branch (services/detector/attempts.py), or the retry the reconciler started since
(services/reconciler/converge_state.py); its status and reason come from the run store.
Redis only: one HGETALL per repository, two HGETs per service sent to build (pipelined)
and one GET per service behind.
"""

from __future__ import annotations

from collections.abc import Sequence

import redis

from services.common.keyspace import DEFAULT_KEYSPACE, Keyspace
from services.common.redis_types import RedisClient, bytes_client
from services.common.service_inventory import ServiceRow
from services.common.service_table import Drift, DriftState, LastAttempt
from services.reconciler.converge_state import ConvergeState, RetryState

REASON_SHOWN = ("failed", "blocked")


def drift_of(row: ServiceRow, attempt: LastAttempt | None, retry_at: float | None) -> Drift:
    """Pure: the summary of a surveyed row, its last build and its next retry."""
    state: DriftState = "unknown"
    if row.deployed_commit is not None and row.behind_by is not None:
        state = "behind" if row.behind_by > 0 else "in_sync"
    return Drift(
        state=state,
        behind_by=row.behind_by,
        since=row.deployed_commit[:7] if row.deployed_commit else None,
        last_attempt=attempt,
        retry_at=retry_at if state == "behind" else None,
    )


class DriftReader:
    """The last build and next retry of a repository's services, from Redis."""

    def __init__(
        self, client: redis.Redis | RedisClient, *, keys: Keyspace = DEFAULT_KEYSPACE
    ) -> None:
        self._redis, self._keys = bytes_client(client), keys

    def drifts(self, repository: str, branch: str, rows: Sequence[ServiceRow]) -> list[Drift]:
        """Each row's drift, in order."""
        behind = [row.service for row in rows if (row.behind_by or 0) > 0]
        retries = self._retries(repository, behind)
        sent = self._redis.hgetall(self._keys.sent_builds(repository, f"refs/heads/{branch}"))
        runs: dict[str, str] = {}
        for row in rows:
            retry = retries.get(row.service)
            if retry is not None:
                runs[row.service] = retry.run_id  # the reconciler's retry, newer than sent
            elif (run_id := sent.get(row.service.encode())) is not None:
                runs[row.service] = run_id.decode()
        attempts = self._attempts(runs)
        return [
            drift_of(
                row,
                attempts.get(row.service),
                (retry.retry_at if (retry := retries.get(row.service)) else None),
            )
            for row in rows
        ]

    def _attempts(self, runs: dict[str, str]) -> dict[str, LastAttempt]:
        if not runs:
            return {}
        pipe = self._redis.pipeline(transaction=False)
        for service, run_id in runs.items():
            pipe.hget(self._keys.run_service(run_id, service), "status")
            pipe.hget(self._keys.run_service(run_id, service), "reason")
        replies = pipe.execute()
        found = {}
        for index, (service, run_id) in enumerate(runs.items()):
            status, reason = replies[2 * index], replies[2 * index + 1]
            if status is None:
                continue  # the run expired from the store
            shown = status.decode()
            found[service] = LastAttempt.model_validate(
                {
                    "run_id": run_id,
                    "status": shown,
                    "reason": reason.decode() if reason and shown in REASON_SHOWN else None,
                }
            )
        return found

    def _retries(self, repository: str, services: Sequence[str]) -> dict[str, RetryState]:
        retries = ConvergeState(self._redis, keys=self._keys)
        found = {}
        for service in services:
            if (retry := retries.get(repository, service)) is not None:
                found[service] = retry
        return found

"""Retention: the finished runs created longer ago than `runs.retention_days`, deleted with
everything kept about them.

A run goes with its hash, its services' hashes and sets, its event stream, its scan reports
to the git host and its entries in every run index (run_index.py); the global event stream
loses the entries older than the cutoff (XTRIM MINID). A run still queued, running or
awaiting a merge is never deleted, however old. Each trim deletes at most `limit` runs and
looks at most `limit * SCAN_FACTOR` old runs (the reconciler trims once per pass); the runs
it deletes are watched, so a run that changes meanwhile (a replayed dead letter reopening
it) is left for the next trim.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

from services.common.keyspace import Keyspace
from services.common.run_index import STATUSES, service_sets

KEPT = ("queued", "running", "awaiting-merge")  # in progress: never deleted
SCAN_FACTOR = 4


@dataclass(frozen=True)
class Trimmed:
    runs: int  # deleted
    kept: int  # older than the cutoff but in progress


@dataclass(frozen=True)
class _Old:
    run_id: str
    status: str
    repository: str | None
    services: list[str]


class RunRetention:
    def __init__(self, client: redis.Redis, keys: Keyspace) -> None:
        self._redis, self._keys = client, keys

    def trim(self, cutoff: float, limit: int) -> Trimmed:
        """Delete up to `limit` finished runs created before `cutoff` (seconds since the
        epoch), oldest first, and the global stream's entries older than it."""
        found = self._old_runs(cutoff, limit * SCAN_FACTOR)
        kept = [run for run in found if run.status in KEPT]
        doomed = [run for run in found if run.status not in KEPT][:limit]
        deleted = self._delete(doomed) if doomed else 0
        self._redis.xtrim(self._keys.events, minid=f"{int(cutoff * 1000)}-0", approximate=False)
        return Trimmed(runs=deleted, kept=len(kept))

    def _old_runs(self, cutoff: float, most: int) -> list[_Old]:
        raw = self._redis.zrangebyscore(
            self._keys.runs_index, "-inf", f"({cutoff!r}", start=0, num=most
        )
        ids = [i.decode() if isinstance(i, bytes) else str(i) for i in raw]
        pipe = self._redis.pipeline(transaction=False)
        for run_id in ids:
            pipe.hmget(self._keys.run(run_id), ["status", "repository"])
            pipe.smembers(self._keys.run_services(run_id))
        answers = pipe.execute() if ids else []
        found = []
        for n, run_id in enumerate(ids):
            (status, repository), services = answers[2 * n], answers[2 * n + 1]
            found.append(
                _Old(
                    run_id,
                    status.decode() if status else "",
                    repository.decode() if repository else None,
                    sorted(s.decode() for s in services),
                )
            )
        return found

    def _delete(self, runs: list[_Old]) -> int:
        keys = self._keys
        with self._redis.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(*(keys.run(run.run_id) for run in runs))
                pipe.multi()
                for run in runs:
                    self._delete_one(pipe, run)
                pipe.execute()
            except redis.WatchError:
                return 0  # one changed meanwhile: the next trim looks again
        return len(runs)

    def _delete_one(self, pipe: redis.client.Pipeline, run: _Old) -> None:
        keys, run_id = self._keys, run.run_id
        pipe.delete(
            keys.run(run_id),
            keys.run_services(run_id),
            keys.run_finished(run_id),
            keys.run_scanned(run_id),
            keys.run_events(run_id),
            *(keys.run_service(run_id, service) for service in run.services),
            *(keys.scan_host_report(run_id, service) for service in run.services),
            *(keys.scan_sbom(run_id, service) for service in run.services),
        )
        indexes = [keys.runs_index, keys.runs_settled, keys.reconciler_runs]
        indexes += [keys.runs_by_status(status) for status in STATUSES]
        if run.repository:
            indexes.append(keys.runs_by_repository(run.repository))
        for service in run.services:
            indexes += service_sets(keys, service, run.repository)
        for index in indexes:
            pipe.zrem(index, run_id)

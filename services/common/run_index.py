"""The run indexes: which runs each service, repository and status has, and which settled.

Each is a sorted set of run ids scored by the run's creation time (like the run index,
`Keyspace.runs_index`), so every reader walks it newest first in the same order, ties by
run id. They are written with the writes they index, in the same script or transaction:
a run's repository when it is created (the intake's script, RunStore.create), its services
when it is planned and whenever an event names one (the projection's script), its status
set whenever its status changes (the script's `status` write moves it: run from the status
the hash then holds, so the two never disagree). `runs_settled` holds the runs that left
queued and running, numbered in the order they did (a counter the script increments, so no
writer's clock matters): the metrics read only what settled since their last scrape.

Runs recorded before the indexes existed are indexed once by `rebuild_step`, a bounded
batch per reconciler pass (services/reconciler/run_upkeep.py); `runs_indexed` records
when it finished. Until then the readers scan the runs one by one, as before. Each pass
also moves the runs the status sets hold as queued or running by the status their hashes
hold now (`refresh_in_progress`): a run an older process changed during an upgrade, after
the rebuild, is put right at the next pass. A run a stage
recreates after Redis lost its data (run_recovery.py) is indexed by the script that
recreates it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from typing import Any, get_args

from services.common.event_base import RunStatus
from services.common.keyspace import Keyspace
from services.common.publish_script import Writes
from services.common.redis_types import RedisClient

STATUSES: tuple[str, ...] = get_args(RunStatus)
IN_PROGRESS = ("queued", "running")
REBUILD_BATCH = 200  # runs indexed per reconciler pass while rebuilding
REFRESH_LIMIT = 500  # in-progress runs whose status set a reconciler pass checks


def status_sets(keys: Keyspace) -> dict[str, str]:
    return {status: keys.runs_by_status(status) for status in STATUSES}


def service_sets(keys: Keyspace, service: str, repository: str | None) -> list[str]:
    sets = [keys.runs_by_service(service)]
    if repository:
        sets.append(keys.runs_by_repository_service(repository, service))
    return sets


def index_status(writes: Writes, keys: Keyspace, run_id: str, when: int = 0) -> int:
    """Add to `writes`: the run moved into the set of the status its hash then holds."""
    settled = (keys.runs_settled, keys.runs_settled_sequence)
    return writes.status(keys.run(run_id), run_id, status_sets(keys), settled, when)


def index_service(
    writes: Writes, keys: Keyspace, run_id: str, service: str, repository: str | None
) -> int:
    """Add to `writes`: the run indexed under its service (and repository's service)."""
    return writes.index(keys.run(run_id), run_id, service_sets(keys, service, repository))


def newest_first(
    client: RedisClient,
    key: str,
    at_or_before: float | None = None,
    since: float | None = None,
    batch: int = 200,
) -> Iterator[tuple[str, float]]:
    """(run_id, created_at) of every run of the sorted set `key` created in [since,
    at_or_before], newest first (equal times: run ids in descending order), in batches."""
    high: Any = "+inf" if at_or_before is None else at_or_before
    low: Any = "-inf" if since is None else since
    offset = 0
    while True:
        page = client.zrevrangebyscore(key, high, low, start=offset, num=batch, withscores=True)
        if page and offset == 0:
            high = page[0][1]  # runs created meanwhile must not shift the offsets
        for run_id, created_at in page:
            yield run_id.decode(), float(created_at)
        if len(page) < batch:
            return
        offset += batch


class RunIndex:
    """Reads of the indexes, and their one-off rebuild."""

    def __init__(self, client: RedisClient, keys: Keyspace) -> None:
        self._redis, self._keys = client, keys
        self._built = False

    def built(self) -> bool:
        """Whether every run is indexed (once true, it stays: runs are indexed as written)."""
        if not self._built:
            self._built = bool(self._redis.exists(self._keys.runs_indexed))
        return self._built

    def newest_of_each(self, services: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
        """The newest run of each (repository, service) that has one, in one round trip."""
        wanted = list(services)
        pipe = self._redis.pipeline(transaction=False)
        for repository, service in wanted:
            pipe.zrevrange(self._keys.runs_by_repository_service(repository, service), 0, 0)
        answers = pipe.execute() if wanted else []
        return {
            key: newest[0].decode() for key, newest in zip(wanted, answers, strict=True) if newest
        }

    def of_service(self, repository: str, service: str, newest: str | None = None) -> Iterator[str]:
        """The runs of a repository's service, newest first; `newest`: the first, known
        already (newest_of_each), so the index is read only when the caller wants more."""
        if newest is not None:
            yield newest
        key = self._keys.runs_by_repository_service(repository, service)
        for run_id, _ in newest_first(self._redis, key, batch=20):
            if run_id != newest:
                yield run_id

    def in_progress(self) -> list[str]:
        """The runs queued or running, newest first (equal times: run ids descending)."""
        entries = [
            (created_at, run_id)
            for status in IN_PROGRESS
            for run_id, created_at in newest_first(self._redis, self._keys.runs_by_status(status))
        ]
        return [run_id for _, run_id in sorted(entries, reverse=True)]

    def counts(self, statuses: tuple[str, ...]) -> dict[str, int]:
        pipe = self._redis.pipeline(transaction=False)
        for status in statuses:
            pipe.zcard(self._keys.runs_by_status(status))
        return dict(zip(statuses, (int(n) for n in pipe.execute()), strict=True))

    def settled_after(self, number: int) -> Iterator[tuple[str, int]]:
        """(run_id, its number) of the runs that settled after the one numbered `number`."""
        entries = newest_first(self._redis, self._keys.runs_settled, since=number + 1, batch=500)
        return ((run_id, int(settled)) for run_id, settled in entries)

    def filtered(
        self,
        service: str | None,
        status: str | None,
        at_or_before: float | None = None,
        since: float | None = None,
    ) -> Iterator[tuple[str, float]] | None:
        """The runs of a service and/or status, newest first, from their index (None: no
        filter, or the indexes are still being built)."""
        if (service is None and status is None) or not self.built():
            return None
        status_key = self._keys.runs_by_status(status) if status is not None else None
        if service is None and status_key is not None:
            return newest_first(self._redis, status_key, at_or_before, since)
        entries = newest_first(
            self._redis, self._keys.runs_by_service(str(service)), at_or_before, since
        )
        if status_key is None:
            return entries
        return (e for e in entries if self._redis.zscore(status_key, e[0]) is not None)

    def refresh_in_progress(self, limit: int = REFRESH_LIMIT) -> int:
        """Move each run the queued and running sets hold (at most `limit`, oldest first)
        by the status its hash holds now; how many were looked at."""
        pipe = self._redis.pipeline(transaction=False)
        for status in IN_PROGRESS:
            pipe.zrange(self._keys.runs_by_status(status), 0, limit - 1)
        run_ids = sorted({m.decode() for page in pipe.execute() for m in page})[:limit]
        if run_ids:
            writes = Writes()
            for run_id in run_ids:
                index_status(writes, self._keys, run_id)
            writes.commit(self._redis)
        return len(run_ids)

    # --- the one-off rebuild ---------------------------------------------------------

    def rebuild_step(self, limit: int = REBUILD_BATCH) -> int | None:
        """Index the next `limit` runs of the run index, newest first from where the last
        step stopped; the number indexed, or None once every run is (then recorded)."""
        if self.built():
            return None
        done = int(self._redis.get(self._keys.runs_indexing) or 0)
        ids = [
            i.decode() for i in self._redis.zrevrange(self._keys.runs_index, done, done + limit - 1)
        ]
        if ids:
            self._index_runs(ids)
        if len(ids) < limit:
            record = {"at": time.time(), "runs": done + len(ids)}
            self._redis.set(self._keys.runs_indexed, json.dumps(record))
            self._redis.delete(self._keys.runs_indexing)
            self._built = True
            return len(ids) if ids else None
        self._redis.set(self._keys.runs_indexing, done + len(ids))
        return len(ids)

    def _index_runs(self, run_ids: list[str]) -> None:
        pipe = self._redis.pipeline(transaction=False)
        for run_id in run_ids:
            pipe.hget(self._keys.run(run_id), "repository")
            pipe.smembers(self._keys.run_services(run_id))
        answers = pipe.execute()
        writes = Writes()
        for n, run_id in enumerate(run_ids):
            raw_repository, services = answers[2 * n], answers[2 * n + 1]
            repository = raw_repository.decode() if raw_repository else None
            index_status(writes, self._keys, run_id)
            if repository:
                writes.index(
                    self._keys.run(run_id), run_id, [self._keys.runs_by_repository(repository)]
                )
            for service in sorted(s.decode() for s in services):
                index_service(writes, self._keys, run_id, service, repository)
        writes.commit(self._redis)

"""The run store: a projection of the events onto each run's status, kept in Redis.

A run is everything one trigger caused. Each service of a run has a hash with its stage,
status, image, digest, reason and per-stage start/finish times. How each event changes it
is run_projection.py; where it lives, keyspace.py (Keyspace.run…); what its records hold,
run_records.py.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import redis

from services.common.events import Envelope, ReleaseReady, RunCompleted
from services.common.keyspace import DEFAULT_KEYSPACE, Keyspace
from services.common.publish_script import Writes
from services.common.redis_types import RedisClient, bytes_client
from services.common.run_models import Run, ServiceRecord
from services.common.run_projection import Projected, RunProjection
from services.common.run_records import run_record, service_record


class RunStore:
    def __init__(
        self, client: redis.Redis | RedisClient, *, keys: Keyspace = DEFAULT_KEYSPACE
    ) -> None:
        self._redis, self._keys = bytes_client(client), keys
        self._projection = RunProjection(self._redis, read=self.get, keys=keys)

    # --- writes -------------------------------------------------------------------

    def create(self, run_id: str, trigger: str, **fields: str) -> None:
        now = time.time()
        pipe = self._redis.pipeline()
        pipe.hset(self._keys.run(run_id), mapping=run_record(run_id, trigger, now, fields))
        pipe.zadd(self._keys.runs_index, {run_id: now})
        pipe.execute()

    def plan(self, run_id: str, services: list[str]) -> None:
        """Record how many services this run fans out to, before any of them starts."""
        detected_from = self._redis.hget(self._keys.run(run_id), "detector.started") or time.time()
        pipe = self._redis.pipeline()
        pipe.hset(self._keys.run(run_id), mapping={"expected": len(services), "status": "running"})
        for service in services:
            key = self._keys.run_service(run_id, service)
            pipe.sadd(self._keys.run_services(run_id), service)
            pipe.hsetnx(key, "status", "pending")
            pipe.hsetnx(key, "stage", "detector")
            pipe.hsetnx(key, "t.detector.started", detected_from)
        pipe.execute()

    def peeled(self, run_id: str, commit: str, tag_object: str) -> None:
        """The run deploys `commit`, which the tag object its trigger named points at."""
        self._redis.hset(
            self._keys.run(run_id), mapping={"commit": commit, "tag_object": tag_object}
        )

    def resolved(self, run_id: str, commit: str) -> None:
        """The run deploys `commit`, which its request named by a tag (a release by hand)."""
        self._redis.hset(self._keys.run(run_id), "commit", commit)

    def stage_started(self, run_id: str, service: str | None, stage: str) -> None:
        now = time.time()
        if service is None:
            self._redis.hsetnx(self._keys.run(run_id), f"{stage}.started", now)
            self._redis.hset(self._keys.run(run_id), "status", "running")
            return
        key = self._keys.run_service(run_id, service)
        self._redis.hsetnx(key, f"t.{stage}.started", now)
        self._redis.hset(key, mapping={"stage": stage, "status": "running"})

    def apply(self, event: Envelope) -> RunCompleted | ReleaseReady | None:
        """Project one event; returns the RunCompleted when it finished the run's last service,
        or the ReleaseReady when it was the last scan outcome a release run waited for."""
        return self._projection.apply(event)

    def project(self, event: Envelope, writes: Writes) -> Projected:
        """Add what `event` changes to a publish's `writes` (Bus.publish); `outcome` reads
        the answer of `commit`."""
        return self._projection.project(event, writes)

    def outcome(
        self, projected: Projected, results: list[int]
    ) -> RunCompleted | ReleaseReady | None:
        return self._projection.outcome(projected, results)

    def commit(self, writes: Writes) -> list[int]:
        """Run a publish's writes (this store's, the event log's, the queues') on this
        store's Redis, in one round trip."""
        return writes.commit(self._redis)

    def mark_notified(self, run_id: str) -> None:
        self._redis.hset(self._keys.run(run_id), "notified_at", time.time())

    def reopen(self, run_id: str, service: str | None) -> None:
        """A replayed dead letter resumes a finished run: its service (or, without one, the
        run itself) counts as unfinished again, so the run completes once more."""
        key = self._keys.run(run_id)
        pipe = self._redis.pipeline(transaction=True)
        if service is None:
            pipe.hdel(key, "failure")
        else:
            pipe.srem(self._keys.run_finished(run_id), service)
        pipe.hdel(key, "completing", "notified_at", "finished_at")
        pipe.hset(key, "status", "running")
        pipe.execute()

    def finish_empty(self, trigger: Envelope, reason: str) -> RunCompleted:
        """A run that fans out to no service at all ends here, as 'skipped'."""
        self._redis.hset(self._keys.run(trigger.run_id), mapping={"expected": 0, "reason": reason})
        return self._projection.completion(trigger)

    # --- releases -------------------------------------------------------------------

    def trigger(self, run_id: str) -> str | None:
        """What started the run: push, tag, forced, deploy, rollback, ... (None: no such run)."""
        value = self._redis.hget(self._keys.run(run_id), "trigger")
        return value.decode() if value is not None else None

    def release_of(self, run_id: str) -> str | None:
        """The version a release run deploys, or None for any other run."""
        value = self._redis.hget(self._keys.run(run_id), "release")
        return value.decode() if value is not None else None

    def created_at(self, run_id: str) -> float | None:
        """When the run was created (None: no such run): one field, whatever its size."""
        value = self._redis.hget(self._keys.run(run_id), "created_at")
        return float(value) if value is not None else None

    def keep_release_notes(self, run_id: str, notes: str) -> None:
        self._redis.hset(self._keys.run(run_id), "release_notes", notes)

    def keep_host_release(self, run_id: str, outcome: str) -> None:
        """The release's Release on the git host: its page, or `failed: <why>`."""
        self._redis.hset(self._keys.run(run_id), "host_release", outcome)

    # --- reads ----------------------------------------------------------------------

    def get(self, run_id: str) -> Run | None:
        raw = self._redis.hgetall(self._keys.run(run_id))
        if not raw:
            return None
        run: dict[str, Any] = {k.decode(): v.decode() for k, v in raw.items()}
        run.pop("completing", None)  # the completion's claim, not part of the record
        names = sorted(m.decode() for m in self._redis.smembers(self._keys.run_services(run_id)))
        run["services"] = {name: self._service(run_id, name) for name in names}
        return Run.model_validate(run)

    def list(self, limit: int = 50) -> list[Run]:
        ids = [i.decode() for i in self._redis.zrevrange(self._keys.runs_index, 0, limit - 1)]
        return [run for run in (self.get(i) for i in ids) if run is not None]

    def newest_first(
        self, at_or_before: float | None = None, since: float | None = None, batch: int = 200
    ) -> Iterator[tuple[str, float]]:
        """(run_id, created_at) of every run created in [since, at_or_before], newest first
        (equal times: run ids in descending order), read from the index in batches."""
        high: Any = "+inf" if at_or_before is None else at_or_before
        low: Any = "-inf" if since is None else since
        offset = 0
        while True:
            page = self._redis.zrevrangebyscore(
                self._keys.runs_index, high, low, start=offset, num=batch, withscores=True
            )
            if page and offset == 0:
                high = page[0][1]  # runs created meanwhile must not shift the offsets
            for run_id, created_at in page:
                yield run_id.decode(), float(created_at)
            if len(page) < batch:
                return
            offset += batch

    def _service(self, run_id: str, service: str) -> ServiceRecord:
        raw = self._redis.hgetall(self._keys.run_service(run_id, service))
        return service_record({k.decode(): v.decode() for k, v in raw.items()})

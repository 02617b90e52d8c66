"""The run store: a projection of the events onto each run's status, kept in Redis.

A run is everything one trigger caused. Each service of a run has a hash with its stage,
status, image, digest, reason and per-stage start/finish times. How each event changes it
is run_projection.py; where it lives, keyspace.py (Keyspace.run…); what its records hold,
run_records.py.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import redis

from services.common.events import Envelope, ReleaseReady, RunCompleted
from services.common.keyspace import DEFAULT_KEYSPACE, Keyspace
from services.common.publish_script import Writes
from services.common.redis_types import RedisClient, bytes_client
from services.common.run_index import RunIndex, index_service, index_status, newest_first
from services.common.run_models import Run
from services.common.run_projection import Projected, RunProjection
from services.common.run_records import run_record, service_record


class RunStore:
    def __init__(
        self, client: redis.Redis | RedisClient, *, keys: Keyspace = DEFAULT_KEYSPACE
    ) -> None:
        self._redis, self._keys = bytes_client(client), keys
        self._projection = RunProjection(self._redis, read=self.get, keys=keys)
        self._index = RunIndex(self._redis, keys)

    # --- writes -------------------------------------------------------------------

    def create(self, run_id: str, trigger: str, **fields: str) -> None:
        now = time.time()
        pipe = self._redis.pipeline()
        pipe.hset(self._keys.run(run_id), mapping=run_record(run_id, trigger, now, fields))
        pipe.zadd(self._keys.runs_index, {run_id: now})
        pipe.zadd(self._keys.runs_by_status("queued"), {run_id: now})
        if fields.get("repository"):
            pipe.zadd(self._keys.runs_by_repository(fields["repository"]), {run_id: now})
        pipe.execute()

    def plan(self, run_id: str, services: list[str]) -> None:
        """Record how many services this run fans out to, before any of them starts."""
        started, repository = self._redis.hmget(
            self._keys.run(run_id), ["detector.started", "repository"]
        )
        detected_from = started or time.time()
        writes = Writes()
        writes.hset(self._keys.run(run_id), {"expected": len(services), "status": "running"})
        index_status(writes, self._keys, run_id)
        for service in services:
            key = self._keys.run_service(run_id, service)
            writes.call("SADD", self._keys.run_services(run_id), service)
            writes.call("HSETNX", key, "status", "pending")
            writes.call("HSETNX", key, "stage", "detector")
            writes.call("HSETNX", key, "t.detector.started", detected_from)
            index_service(writes, self._keys, run_id, service, _text(repository))
        writes.commit(self._redis)

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
            writes = Writes()
            writes.call("HSETNX", self._keys.run(run_id), f"{stage}.started", now)
            writes.hset(self._keys.run(run_id), {"status": "running"})
            index_status(writes, self._keys, run_id)
            writes.commit(self._redis)
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
        key, writes = self._keys.run(run_id), Writes()
        if service is None:
            writes.call("HDEL", key, "failure")
        else:
            writes.call("SREM", self._keys.run_finished(run_id), service)
        writes.call("HDEL", key, "completing", "notified_at", "finished_at")
        writes.hset(key, {"status": "running"})
        index_status(writes, self._keys, run_id)
        writes.commit(self._redis)

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
        names = sorted(m.decode() for m in self._redis.smembers(self._keys.run_services(run_id)))
        pipe = self._redis.pipeline(transaction=False)
        for name in names:
            pipe.hgetall(self._keys.run_service(run_id, name))
        return _run(raw, names, iter(pipe.execute() if names else []))

    def get_many(self, run_ids: Sequence[str]) -> dict[str, Run | None]:
        """Each run (None: no such run), in two round trips however many."""
        run_ids = list(dict.fromkeys(run_ids))
        pipe = self._redis.pipeline(transaction=False)
        for run_id in run_ids:
            pipe.hgetall(self._keys.run(run_id))
            pipe.smembers(self._keys.run_services(run_id))
        answers = pipe.execute() if run_ids else []
        found: dict[str, tuple[dict[bytes, bytes], list[str]]] = {}
        pipe = self._redis.pipeline(transaction=False)
        for n, run_id in enumerate(run_ids):
            raw, members = answers[2 * n], answers[2 * n + 1]
            if raw:
                found[run_id] = raw, sorted(m.decode() for m in members)
                for name in found[run_id][1]:
                    pipe.hgetall(self._keys.run_service(run_id, name))
        records = iter(pipe.execute() if found else [])
        runs: dict[str, Run | None] = dict.fromkeys(run_ids)
        for run_id, (raw, names) in found.items():
            runs[run_id] = _run(raw, names, records)
        return runs

    def list(self, limit: int = 50) -> list[Run]:
        ids = [i.decode() for i in self._redis.zrevrange(self._keys.runs_index, 0, limit - 1)]
        return [run for run in self.get_many(ids).values() if run is not None]

    def newest_first(
        self, at_or_before: float | None = None, since: float | None = None, batch: int = 200
    ) -> Iterator[tuple[str, float]]:
        """(run_id, created_at) of every run created in [since, at_or_before], newest first
        (equal times: run ids in descending order), read from the index in batches."""
        return newest_first(self._redis, self._keys.runs_index, at_or_before, since, batch)

    @property
    def index(self) -> RunIndex:
        """The indexes by service, repository and status (run_index.py)."""
        return self._index


def _text(value: bytes | None) -> str | None:
    return value.decode() if value else None


def _decoded(raw: dict[bytes, bytes]) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in raw.items()}


def _run(raw: dict[bytes, bytes], names: list[str], records: Iterator[dict[bytes, bytes]]) -> Run:
    """A run from its hash and, in `names`' order, its services' hashes."""
    run: dict[str, Any] = _decoded(raw)
    run.pop("completing", None)  # the completion's claim, not part of the record
    run["services"] = {name: service_record(_decoded(next(records))) for name in names}
    return Run.model_validate(run)


class RunReads:
    """RunStore.get, each run read once (a release run is the last run of many services)."""

    def __init__(self, runs: RunStore) -> None:
        self._runs, self._read = runs, dict[str, Run | None]()

    def __call__(self, run_id: str) -> Run | None:
        if run_id not in self._read:
            self._read[run_id] = self._runs.get(run_id)
        return self._read[run_id]

    def ahead(self, run_ids: Iterable[str]) -> None:
        """Read these runs now, together (two round trips), for the calls to come."""
        self._read.update(self._runs.get_many([i for i in run_ids if i not in self._read]))

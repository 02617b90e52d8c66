"""Retention, on a real Redis: the finished runs older than the cutoff go with everything
kept about them (records, indexes, events); runs in progress and newer runs stay. Run by the
reconciler's leader pass (services/reconciler/run_upkeep.py)."""

from __future__ import annotations

import time

import pytest
import redis

from services.common.eventlog import EventLog
from services.common.events import PushReceived
from services.common.keyspace import DEFAULT_KEYSPACE as KEYS
from services.common.run_index import RunIndex
from services.common.run_retention import RunRetention
from services.common.run_settings import RunsSettings
from services.common.runs import RunStore
from services.common.sbom_record import SbomRecord, SbomRecords
from services.reconciler.run_upkeep import RunUpkeep
from tests.gateway.runs_data import REPOSITORY, build_failed, deployed, started_run

DAY = 86400.0


@pytest.fixture
def runs(redis_client: redis.Redis) -> RunStore:
    return RunStore(redis_client)


def reconciler_upkeep(redis_client: redis.Redis, retention_days: int, now: float) -> RunUpkeep:
    """The reconciler's run upkeep over the test's Redis, its clock stopped at `now`."""
    index, retention = RunIndex(redis_client, KEYS), RunRetention(redis_client, KEYS)
    return RunUpkeep(RunsSettings(retention_days=retention_days), index, retention, lambda: now)


def logged(redis_client: redis.Redis, run_id: str) -> None:
    """An event of the run in the event log (its stream and the global one)."""
    EventLog(redis_client).append(
        PushReceived(
            run_id=run_id,
            provider="github",
            delivery_id=f"d-{run_id}",
            repository=REPOSITORY,
            ref="refs/heads/main",
            before="a" * 40,
            after="b" * 40,
        )
    )


def history(runs: RunStore, redis_client: redis.Redis) -> float:
    """Old runs (one succeeded, with its scan's SBOM record, one failed, one still running),
    then the cutoff, then a new finished run; each with an event logged."""
    for run_id in ("old-ok", "old-failed", "old-running"):
        started_run(runs, run_id, ["cart", "payments"])
        logged(redis_client, run_id)
    deployed(runs, "old-ok", "cart")
    deployed(runs, "old-ok", "payments")
    SbomRecords(redis_client).put("old-ok", "cart", SbomRecord(digest="sha256:" + "c" * 64))
    build_failed(runs, "old-failed", "cart")
    build_failed(runs, "old-failed", "payments")
    time.sleep(0.01)
    cutoff = time.time()
    time.sleep(0.01)
    started_run(runs, "new", ["cart"])
    logged(redis_client, "new")
    deployed(runs, "new", "cart")
    return cutoff


def keys_naming(redis_client: redis.Redis, run_id: str) -> list[str]:
    return sorted(k.decode() for k in redis_client.scan_iter(f"*{run_id}*"))


def in_any_index(redis_client: redis.Redis, run_id: str) -> list[str]:
    indexes = [k.decode() for k in redis_client.scan_iter(f"{KEYS.namespace}:runs*")]
    return sorted(
        key
        for key in indexes
        if redis_client.type(key) == b"zset" and redis_client.zscore(key, run_id) is not None
    )


def test_retention_deletes_exactly_the_old_finished_runs_their_records_indexes_and_events(
    runs, redis_client
):
    cutoff = history(runs, redis_client)

    trimmed = RunRetention(redis_client, KEYS).trim(cutoff, limit=100)

    assert (trimmed.runs, trimmed.kept) == (2, 1)
    for gone in ("old-ok", "old-failed"):
        assert runs.get(gone) is None
        assert keys_naming(redis_client, gone) == []
        assert in_any_index(redis_client, gone) == []
    assert runs.get("old-running").status == "running"
    assert runs.get("new").status == "succeeded"
    assert [r.run_id for r in runs.list()] == ["new", "old-running"]
    assert len(EventLog(redis_client).for_run("old-running")) == 1
    global_runs = [e["run_id"] for e in EventLog(redis_client).logged_since(0)]
    assert "old-ok" not in global_runs and "new" in global_runs


def test_a_trim_deletes_at_most_its_batch_and_the_next_takes_the_rest(runs, redis_client):
    cutoff = history(runs, redis_client)
    retention = RunRetention(redis_client, KEYS)

    assert retention.trim(cutoff, limit=1).runs == 1
    assert retention.trim(cutoff, limit=1).runs == 1
    assert retention.trim(cutoff, limit=1).runs == 0
    assert [r.run_id for r in runs.list()] == ["new", "old-running"]


def test_the_reconciler_pass_trims_runs_older_than_the_retention_days(runs, redis_client):
    cutoff = history(runs, redis_client)
    upkeep = reconciler_upkeep(redis_client, retention_days=30, now=cutoff + 30 * DAY)

    trimmed = upkeep.pass_once()

    assert trimmed is not None and trimmed.runs == 2
    assert RunIndex(redis_client, KEYS).built()  # the one-off rebuild ran first
    assert [r.run_id for r in runs.list()] == ["new", "old-running"]


def test_retention_days_0_keeps_every_run(runs, redis_client):
    cutoff = history(runs, redis_client)
    upkeep = reconciler_upkeep(redis_client, retention_days=0, now=cutoff + 3650 * DAY)

    assert upkeep.pass_once() is None
    assert len(runs.list()) == 4

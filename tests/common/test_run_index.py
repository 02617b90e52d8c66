"""The run indexes (by service, repository, status, settled), on a real Redis: right after
each write that changes what they index, after a data loss, and rebuilt once for the runs
recorded before they existed."""

from __future__ import annotations

import json

import pytest
import redis

from services.common.keyspace import DEFAULT_KEYSPACE as KEYS
from services.common.run_index import STATUSES, RunIndex
from services.common.runs import RunStore
from tests.common.test_runs import RUN, image_pushed, planned, stage_failed
from tests.gateway.runs_data import REPOSITORY, build_failed, deployed, started_run


@pytest.fixture
def runs(redis_client: redis.Redis) -> RunStore:
    return RunStore(redis_client)


def members(client: redis.Redis, key: str) -> list[str]:
    return [m.decode() for m in client.zrange(key, 0, -1)]


def statuses_of(client: redis.Redis, run_id: str) -> list[str]:
    """Every status set that holds the run."""
    return [s for s in STATUSES if client.zscore(KEYS.runs_by_status(s), run_id) is not None]


def created_at(client: redis.Redis, run_id: str) -> float:
    return float(client.hget(KEYS.run(run_id), "created_at"))


def test_a_created_run_is_queued_and_indexed_under_its_repository(runs, redis_client):
    runs.create("r1", trigger="push", repository=REPOSITORY)

    assert statuses_of(redis_client, "r1") == ["queued"]
    assert members(redis_client, KEYS.runs_by_repository(REPOSITORY)) == ["r1"]
    assert redis_client.zscore(KEYS.runs_by_status("queued"), "r1") == created_at(
        redis_client, "r1"
    )


def test_a_planned_run_is_running_and_indexed_under_each_service(runs, redis_client):
    started_run(runs, "r1", ["cart", "payments"])

    assert statuses_of(redis_client, "r1") == ["running"]
    at = created_at(redis_client, "r1")
    for service in ("cart", "payments"):
        assert redis_client.zscore(KEYS.runs_by_service(service), "r1") == at
        key = KEYS.runs_by_repository_service(REPOSITORY, service)
        assert redis_client.zscore(key, "r1") == at
    assert redis_client.zscore(KEYS.runs_settled, "r1") is None


def test_a_run_moves_between_status_sets_and_settles_when_it_ends(runs, redis_client):
    started_run(runs, "ok", ["cart"])
    started_run(runs, "bad", ["cart"])

    deployed(runs, "ok", "cart")
    build_failed(runs, "bad", "cart")

    assert statuses_of(redis_client, "ok") == ["succeeded"]
    assert statuses_of(redis_client, "bad") == ["failed"]
    assert set(members(redis_client, KEYS.runs_settled)) == {"ok", "bad"}
    assert members(redis_client, KEYS.runs_by_status("running")) == []


def test_a_reopened_run_is_running_again_and_no_longer_settled(runs, redis_client):
    started_run(runs, "r1", ["cart"])
    build_failed(runs, "r1", "cart")

    runs.reopen("r1", "cart")

    assert statuses_of(redis_client, "r1") == ["running"]
    assert redis_client.zscore(KEYS.runs_settled, "r1") is None


def test_a_run_recovered_after_a_data_loss_is_indexed_by_the_event_that_recreates_it(
    runs, redis_client
):
    planned(runs, "user-service")
    redis_client.flushall()
    pushed = image_pushed("user-service")

    runs.apply(pushed)
    runs.apply(stage_failed("user-service"))

    at = pushed.occurred_at.timestamp()
    repository = pushed.source.repository
    assert redis_client.zscore(KEYS.runs_by_service("user-service"), RUN) == at
    key = KEYS.runs_by_repository_service(repository, "user-service")
    assert redis_client.zscore(key, RUN) == at
    assert redis_client.zscore(KEYS.runs_by_repository(repository), RUN) == at
    assert statuses_of(redis_client, RUN) == ["running"]  # its RunCompleted not yet applied


def test_runs_recorded_before_the_indexes_are_indexed_once_in_bounded_batches(runs, redis_client):
    for n in range(5):
        started_run(runs, f"r{n}", ["cart"])
    deployed(runs, "r0", "cart")
    old_keys = [k for k in redis_client.keys(f"{KEYS.namespace}:runs:*")]
    redis_client.delete(*old_keys)  # as an older version left them: no index at all
    index = RunIndex(redis_client, KEYS)

    steps = []
    while (indexed := index.rebuild_step(limit=2)) is not None:
        steps.append(indexed)

    assert steps == [2, 2, 1]
    assert index.built()
    assert json.loads(redis_client.get(KEYS.runs_indexed))["runs"] == 5
    assert members(redis_client, KEYS.runs_by_service("cart")) == [f"r{n}" for n in range(5)]
    assert statuses_of(redis_client, "r0") == ["succeeded"]
    assert statuses_of(redis_client, "r4") == ["running"]
    assert members(redis_client, KEYS.runs_by_repository(REPOSITORY)) == [f"r{n}" for n in range(5)]
    assert RunIndex(redis_client, KEYS).rebuild_step() is None  # once: recorded


def test_a_run_an_older_process_finished_leaves_the_running_set_at_the_next_pass(
    runs, redis_client
):
    started_run(runs, "r1", ["cart"])
    redis_client.hset(KEYS.run("r1"), "status", "succeeded")  # as a version without indexes

    assert RunIndex(redis_client, KEYS).refresh_in_progress() == 1

    assert statuses_of(redis_client, "r1") == ["succeeded"]
    assert redis_client.zscore(KEYS.runs_settled, "r1") is not None

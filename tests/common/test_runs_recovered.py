"""A run the store lost with Redis's data, rebuilt from the stage events that arrive after
the loss (trigger `recovered`), on a real Redis: answered as any run, and completed once
every service it has seen since has ended."""

from __future__ import annotations

import time

import pytest
import redis

from services.common.errors import PermanentError
from services.common.events import RunCompleted
from services.common.run_models import RunDetail
from services.common.runs import RunStore
from services.gateway.routes.runs import timeline
from services.notifier.recorded import recorded_summary
from tests.common.test_runs import (
    COMMIT,
    RUN,
    SOURCE,
    change_detected,
    image_pushed,
    manifest_committed,
    planned,
    scan_failed,
    scan_passed,
    stage_failed,
)


@pytest.fixture
def runs(redis_client: redis.Redis) -> RunStore:
    return RunStore(redis_client)


def lost(runs: RunStore, redis_client: redis.Redis, *services: str) -> None:
    """A run planned for `services`, then Redis's data lost (FLUSHALL)."""
    planned(runs, *services)
    redis_client.flushall()
    assert runs.get(RUN) is None


def test_an_event_for_a_run_the_store_lost_recreates_it_from_the_event(runs, redis_client):
    lost(runs, redis_client, "user-service")
    before = time.time()
    pushed = image_pushed("user-service")

    assert runs.apply(pushed) is None

    run = runs.get(RUN)
    assert (run.run_id, run.status, run.trigger) == (RUN, "running", "recovered")
    assert (run.repository, run.commit, run.ref) == (SOURCE.repository, COMMIT, SOURCE.ref)
    assert before <= run.recovered_at <= time.time()
    assert run.created_at == pushed.occurred_at.timestamp()
    assert run.expected is None
    service = run.services["user-service"]
    assert (service.stage, service.status, service.digest) == ("builder", "running", pushed.digest)
    assert [r.run_id for r in runs.list()] == [RUN]
    detail = RunDetail(**dict(run), timeline=timeline(run))
    answered = RunDetail.model_validate_json(detail.model_dump_json())
    assert (answered.trigger, answered.recovered_at) == ("recovered", run.recovered_at)
    assert "expected" not in detail.model_dump(mode="json")


def test_a_recovered_run_completes_when_every_service_it_has_seen_has_ended(runs, redis_client):
    lost(runs, redis_client, "user-service", "account-service")
    runs.apply(image_pushed("user-service"))
    runs.apply(scan_passed("account-service"))

    assert runs.apply(manifest_committed("user-service")) is None
    completed = runs.apply(manifest_committed("account-service"))

    assert isinstance(completed, RunCompleted)
    assert completed.status == "succeeded"
    assert (completed.repository, completed.commit) == (SOURCE.repository, COMMIT)
    assert sorted(completed.services) == ["account-service", "user-service"]
    runs.apply(completed)
    run = runs.get(RUN)
    assert (run.status, run.trigger) == ("succeeded", "recovered")
    assert run.finished_at is not None


def test_a_recovered_run_completes_once_even_when_its_last_event_is_redelivered(runs, redis_client):
    lost(runs, redis_client, "user-service")
    last = scan_failed("user-service")

    completions = [runs.apply(last), runs.apply(last), runs.apply(last)]

    assert all(isinstance(c, RunCompleted) for c in completions)
    assert len({c.event_id for c in completions if c is not None}) == 1
    assert completions[0].status == "blocked"


def test_a_run_wide_failure_after_the_loss_recovers_the_run_and_fails_it(runs, redis_client):
    lost(runs, redis_client, "user-service")

    completed = runs.apply(stage_failed(None, stage="detector"))

    assert completed is not None and completed.status == "failed"
    run = runs.get(RUN)
    assert run.trigger == "recovered" and run.repository is None


def test_a_run_the_store_knows_is_never_marked_recovered(runs):
    planned(runs, "user-service")

    runs.apply(change_detected("user-service"))
    completed = runs.apply(manifest_committed("user-service"))

    run = runs.get(RUN)
    assert (run.trigger, run.recovered_at) == ("push", None)
    assert completed is not None and completed.status == "succeeded"


def test_a_run_completed_for_a_run_the_store_does_not_know_recreates_nothing(runs):
    completed = RunCompleted(run_id="run-gone", status="succeeded")

    runs.apply(completed)

    assert runs.trigger("run-gone") is None
    assert runs.list() == []


def test_the_summary_of_a_recovered_run_is_sent_once_its_services_have_ended(runs, redis_client):
    lost(runs, redis_client, "user-service")
    runs.apply(image_pushed("user-service"))
    with pytest.raises(PermanentError, match="has not finished"):
        recorded_summary(RunCompleted(run_id=RUN, status="succeeded"), runs.get(RUN))

    completed = runs.apply(manifest_committed("user-service"))

    summary = recorded_summary(completed, runs.get(RUN))
    assert (summary.status, summary.repository, summary.commit) == (
        "succeeded",
        "acme/microbank",
        COMMIT,
    )
    assert summary.services["user-service"].status == "succeeded"

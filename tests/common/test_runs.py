"""The run store: events projected onto each run's status, on a real Redis."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import redis

from services.common.events import (
    ChangeDetected,
    Envelope,
    Finding,
    ImagePushed,
    ManifestCommitted,
    PushReceived,
    RunCompleted,
    ScanBypass,
    ScanFailed,
    ScanPassed,
    Source,
    StageFailed,
)
from services.common.runs import RunStore

RUN = "run-1"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
GITOPS_COMMIT = "fedcba9876543210fedcba9876543210fedcba98"
SOURCE = Source(repository="acme/microbank", commit=COMMIT, ref="refs/heads/main")
DIGEST = "sha256:" + "cd" * 32
REGISTRY = "127.0.0.1:5000/microbank"
TAGS = ("sha-0123456", "latest")


@pytest.fixture
def runs(redis_client: redis.Redis) -> RunStore:
    return RunStore(redis_client)


def push(run_id: str = RUN) -> PushReceived:
    return PushReceived(
        run_id=run_id,
        provider="github",
        delivery_id="d-1",
        repository="acme/microbank",
        ref="refs/heads/main",
        before="a" * 40,
        after=COMMIT,
    )


def image_event(
    service: str, run_id: str, tags: tuple[str, ...] = ("sha-0123456",)
) -> dict[str, Any]:
    """The fields every event about the image of ``service`` in the run carries."""
    return {
        "run_id": run_id,
        "service": service,
        "source": SOURCE,
        "image_repository": f"{REGISTRY}/{service}",
        "tags": tags,
    }


def change_detected(service: str, run_id: str = RUN) -> ChangeDetected:
    return ChangeDetected(
        **image_event(service, run_id, TAGS),
        context=service,
        dockerfile=f"{service}/Dockerfile",
        reason="paths",
    )


def image_pushed(service: str, run_id: str = RUN) -> ImagePushed:
    return ImagePushed(**image_event(service, run_id, TAGS), digest=DIGEST, cached=True)


def scan_passed(service: str, run_id: str = RUN) -> ScanPassed:
    return ScanPassed(
        **image_event(service, run_id),
        digest=DIGEST,
        counts={"CRITICAL": 0},
        policy="CRITICAL blocks",
    )


def scan_failed(service: str, run_id: str = RUN) -> ScanFailed:
    return ScanFailed(
        **image_event(service, run_id),
        digest=DIGEST,
        counts={"CRITICAL": 1},
        policy="CRITICAL blocks",
        findings=(
            Finding(kind="secret", id="aws-access-key-id", severity="CRITICAL", target="/app/.env"),
        ),
    )


def manifest_committed(service: str, run_id: str = RUN) -> ManifestCommitted:
    return ManifestCommitted(
        run_id=run_id,
        service=service,
        source=SOURCE,
        manifest_path=f"k8s/{service}/deployment.yaml",
        old_image=f"{REGISTRY}/{service}:sha-1111111",
        new_image=f"{REGISTRY}/{service}:sha-0123456",
        digest=DIGEST,
        gitops_repository="acme/microbank",
        gitops_commit=GITOPS_COMMIT,
        branch="main",
    )


def stage_failed(service: str | None, run_id: str = RUN, stage: str = "builder") -> StageFailed:
    return StageFailed(
        run_id=run_id,
        stage=stage,
        service=service,
        error_class="PermanentError",
        message="COPY failed: no such file",
    )


FINAL: dict[str, Callable[[str], Envelope]] = {
    "succeeded": manifest_committed,
    "blocked": scan_failed,
    "failed": stage_failed,
}


def completion_ids(completions: list[RunCompleted | None]) -> set[uuid.UUID]:
    """The distinct run summaries among what apply() returned: what the notifier would send."""
    return {c.event_id for c in completions if c is not None}


def planned(runs: RunStore, *services: str, run_id: str = RUN) -> None:
    runs.create(run_id, trigger="push", repository="acme/microbank", commit=COMMIT)
    runs.plan(run_id, list(services))


# --- a run's life ------------------------------------------------------------------------


def test_a_created_run_is_queued_with_its_trigger_and_fields(runs):
    before = time.time()

    runs.create(RUN, trigger="push", repository="acme/microbank", commit=COMMIT)

    run = runs.get(RUN)
    assert (run.run_id, run.status, run.trigger) == (RUN, "queued", "push")
    assert (run.repository, run.commit) == ("acme/microbank", COMMIT)
    assert before <= run.created_at <= time.time()
    assert run.services == {}
    assert [r.run_id for r in runs.list()] == [RUN]


def test_an_unknown_run_is_none(runs):
    assert runs.get("run-that-never-was") is None


def test_runs_are_listed_newest_first(runs):
    for run_id in ("run-a", "run-b", "run-c"):
        runs.create(run_id, trigger="push")
        time.sleep(0.002)

    assert [r.run_id for r in runs.list()] == ["run-c", "run-b", "run-a"]
    assert [r.run_id for r in runs.list(limit=2)] == ["run-c", "run-b"]


def test_planning_a_run_marks_it_running_with_every_service_pending(runs):
    runs.create(RUN, trigger="push")

    runs.plan(RUN, ["account-service", "user-service"])

    run = runs.get(RUN)
    assert run.status == "running"
    assert run.expected == 2
    assert sorted(run.services) == ["account-service", "user-service"]
    for service in run.services.values():
        assert (service.status, service.stage) == ("pending", "detector")


def test_change_detected_records_the_detector_stage_and_image_repository(runs):
    planned(runs, "user-service")

    assert runs.apply(change_detected("user-service")) is None

    service = runs.get(RUN).services["user-service"]
    assert (service.stage, service.status) == ("detector", "running")
    assert service.image_repository == f"{REGISTRY}/user-service"
    assert service.timings["detector"].finished is not None


def test_image_pushed_records_the_builder_stage_image_and_digest(runs):
    planned(runs, "user-service")

    assert runs.apply(image_pushed("user-service")) is None

    service = runs.get(RUN).services["user-service"]
    assert (service.stage, service.status) == ("builder", "running")
    assert service.image == f"{REGISTRY}/user-service:sha-0123456"
    assert service.digest == DIGEST
    assert service.cached is True


def test_scan_passed_moves_the_service_to_the_scanner_stage(runs):
    planned(runs, "user-service")
    runs.apply(image_pushed("user-service"))

    assert runs.apply(scan_passed("user-service")) is None

    service = runs.get(RUN).services["user-service"]
    assert (service.stage, service.status) == ("scanner", "running")
    assert service.digest == DIGEST


def test_manifest_committed_marks_the_service_succeeded_with_the_new_image_and_gitops_commit(
    runs,
):
    planned(runs, "user-service", "account-service")
    runs.apply(image_pushed("user-service"))

    runs.apply(manifest_committed("user-service"))

    service = runs.get(RUN).services["user-service"]
    assert (service.stage, service.status) == ("committer", "succeeded")
    assert service.image == f"{REGISTRY}/user-service:sha-0123456"
    assert service.gitops_commit == GITOPS_COMMIT


def test_each_stage_records_when_it_started_finished_and_how_long_it_took(runs):
    planned(runs, "user-service")
    runs.stage_started(RUN, "user-service", "builder")
    time.sleep(0.05)
    runs.apply(image_pushed("user-service"))
    runs.stage_started(RUN, "user-service", "scanner")
    time.sleep(0.02)
    runs.apply(scan_passed("user-service"))

    service = runs.get(RUN).services["user-service"]

    builder, scanner = service.timings["builder"], service.timings["scanner"]
    assert builder.seconds >= 0.05
    assert scanner.seconds >= 0.02
    assert builder.finished <= scanner.started
    assert list(service.timings) == ["detector", "builder", "scanner"]
    assert service.seconds >= builder.seconds + scanner.seconds


def test_a_stage_that_starts_again_keeps_its_first_start_time(runs):
    planned(runs, "user-service")
    runs.stage_started(RUN, "user-service", "builder")
    first = runs.get(RUN).services["user-service"].timings["builder"].started
    time.sleep(0.01)

    runs.stage_started(RUN, "user-service", "builder")

    assert runs.get(RUN).services["user-service"].timings["builder"].started == first


# --- completing a run --------------------------------------------------------------------


def test_the_run_completes_when_its_last_service_finishes(runs):
    planned(runs, "user-service", "account-service")

    first = runs.apply(manifest_committed("user-service"))
    last = runs.apply(scan_failed("account-service"))

    assert first is None
    assert isinstance(last, RunCompleted)
    assert (last.run_id, last.status, last.repository, last.commit) == (
        RUN,
        "blocked",
        "acme/microbank",
        COMMIT,
    )
    assert last.services["user-service"].status == "succeeded"
    assert last.services["user-service"].image == f"{REGISTRY}/user-service:sha-0123456"
    assert last.services["account-service"].status == "blocked"
    assert "aws-access-key-id" in last.services["account-service"].reason
    assert last.seconds >= 0


def test_a_run_summary_tells_each_services_scan_verdict_and_counts(runs):
    planned(runs, "user-service", "account-service")
    passed = scan_passed("user-service").model_copy(
        update={"counts": {"CRITICAL": 0, "HIGH": 2, "LOW": 5, "MEDIUM": 1}}
    )

    runs.apply(passed)
    runs.apply(manifest_committed("user-service"))
    last = runs.apply(scan_failed("account-service"))

    assert last is not None
    assert last.services["user-service"].scan == "passed: 2 HIGH, 1 MEDIUM, 5 LOW"
    assert last.services["account-service"].scan == "blocked: 1 CRITICAL"
    assert runs.get(RUN).services["user-service"].scan == "passed: 2 HIGH, 1 MEDIUM, 5 LOW"


def test_a_clean_scan_is_told_as_passed_with_no_findings(runs):
    planned(runs, "user-service")

    runs.apply(scan_passed("user-service"))
    last = runs.apply(manifest_committed("user-service"))

    assert last is not None
    assert last.services["user-service"].scan == "passed, no findings"


def test_a_final_event_applied_twice_completes_the_run_once(runs):
    planned(runs, "user-service", "account-service")
    runs.apply(manifest_committed("user-service"))
    last = manifest_committed("account-service")

    completions = [runs.apply(last), runs.apply(last)]

    assert isinstance(completions[0], RunCompleted)
    assert completion_ids(completions) == {completions[0].event_id}


def test_a_redelivered_final_event_of_a_service_that_was_not_last_never_completes_the_run(runs):
    planned(runs, "user-service", "account-service")
    early = manifest_committed("user-service")
    runs.apply(early)

    assert runs.apply(early) is None
    assert runs.apply(manifest_committed("account-service")) is not None
    assert runs.apply(early) is None


def test_eight_services_finishing_concurrently_complete_the_run_exactly_once(runs):
    services = [f"service-{n}" for n in range(8)]
    planned(runs, *services)
    for service in services:
        runs.apply(image_pushed(service))
    start = threading.Barrier(len(services))
    completions: list[RunCompleted | None] = []
    lock = threading.Lock()

    def finish(service: str) -> None:
        start.wait()
        completed = runs.apply(manifest_committed(service))
        with lock:
            completions.append(completed)

    threads = [threading.Thread(target=finish, args=(s,)) for s in services]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    [completed] = [c for c in completions if c is not None]
    assert len(completions) == 8
    assert completed.status == "succeeded"
    assert sorted(completed.services) == services
    assert {o.status for o in completed.services.values()} == {"succeeded"}


def test_concurrent_runs_each_complete_exactly_once(runs):
    run_ids = [f"run-{n}" for n in range(4)]
    services = ["user-service", "account-service"]
    for run_id in run_ids:
        planned(runs, *services, run_id=run_id)
    finals = [manifest_committed(s, run_id=r) for r in run_ids for s in services]
    start = threading.Barrier(len(finals))
    completed: list[str] = []
    lock = threading.Lock()

    def finish(event: ManifestCommitted) -> None:
        start.wait()
        result = runs.apply(event)
        if result is not None:
            with lock:
                completed.append(result.run_id)

    threads = [threading.Thread(target=finish, args=(e,)) for e in finals]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(completed) == run_ids


@pytest.mark.parametrize(
    ("outcomes", "expected"),
    [
        (("succeeded", "succeeded"), "succeeded"),
        (("succeeded", "blocked"), "blocked"),
        (("blocked", "blocked"), "blocked"),
        (("succeeded", "failed"), "failed"),
        (("blocked", "failed", "succeeded"), "failed"),
        (("failed",), "failed"),
    ],
)
def test_the_run_status_is_failed_over_blocked_over_succeeded(runs, outcomes, expected):
    services = [f"service-{n}" for n in range(len(outcomes))]
    planned(runs, *services)

    results = [
        runs.apply(FINAL[outcome](service))
        for service, outcome in zip(services, outcomes, strict=True)
    ]

    completed = results[-1]
    assert isinstance(completed, RunCompleted)
    assert completed.status == expected
    assert [completed.services[s].status for s in services] == list(outcomes)


def test_a_failed_service_carries_the_stage_error_class_and_message_as_its_reason(runs):
    planned(runs, "user-service")

    completed = runs.apply(stage_failed("user-service", stage="builder"))

    reason = "builder: PermanentError: COPY failed: no such file"
    assert completed.services["user-service"].reason == reason
    service = runs.get(RUN).services["user-service"]
    assert (service.status, service.stage, service.reason) == ("failed", "builder", reason)


def test_applying_the_run_completed_records_the_final_status_and_finish_time(runs):
    planned(runs, "user-service")
    completed = runs.apply(scan_failed("user-service"))

    assert runs.apply(completed) is None

    run = runs.get(RUN)
    assert run.status == "blocked"
    assert run.created_at <= run.finished_at <= time.time()


def test_a_run_that_builds_no_service_finishes_as_skipped(runs):
    runs.create(RUN, trigger="push")
    trigger = push()

    completed = runs.finish_empty(trigger, "only docs changed")

    assert (completed.run_id, completed.status, completed.services) == (RUN, "skipped", {})
    runs.apply(completed)
    run = runs.get(RUN)
    assert (run.status, run.reason, run.expected) == ("skipped", "only docs changed", 0)


def test_a_stage_failure_without_a_service_fails_the_whole_run(runs):
    runs.create(RUN, trigger="push")

    completed = runs.apply(stage_failed(None, stage="detector"))

    assert isinstance(completed, RunCompleted)
    assert (completed.status, completed.services) == ("failed", {})
    assert runs.get(RUN).failure == "detector: PermanentError: COPY failed: no such file"


def test_a_stage_failure_without_a_service_completes_the_run_once(runs):
    runs.create(RUN, trigger="push")
    failure = stage_failed(None, stage="detector")

    completions = [
        runs.apply(failure),
        runs.apply(failure),
        runs.apply(stage_failed(None, stage="detector")),
    ]

    assert isinstance(completions[0], RunCompleted)
    assert completion_ids(completions) == {completions[0].event_id}


def test_a_run_wide_failure_reports_unfinished_services_as_failed(runs):
    planned(runs, "user-service", "account-service")
    runs.apply(manifest_committed("user-service"))
    runs.apply(image_pushed("account-service"))

    completed = runs.apply(stage_failed(None, stage="detector"))

    assert completed.status == "failed"
    assert completed.services["user-service"].status == "succeeded"
    assert completed.services["account-service"].status == "failed"


# --- deterministic ids -------------------------------------------------------------------


def test_the_run_completed_id_is_the_same_when_the_run_is_replayed(runs, redis_client):
    final = manifest_committed("user-service")
    planned(runs, "user-service")
    first = runs.apply(final)
    redis_client.flushdb()
    planned(runs, "user-service")

    again = runs.apply(final)

    assert again.event_id == first.event_id
    assert again.event_id not in (final.event_id,)


def test_the_run_completed_id_of_an_empty_run_is_the_same_for_the_same_trigger(runs):
    runs.create(RUN, trigger="push")
    trigger = push()

    first = runs.finish_empty(trigger, "only docs changed")
    again = runs.finish_empty(trigger, "only docs changed")

    assert again.event_id == first.event_id


def test_different_runs_complete_with_different_ids(runs):
    for run_id in ("run-a", "run-b"):
        planned(runs, "user-service", run_id=run_id)

    ids = {
        runs.apply(manifest_committed("user-service", run_id=r)).event_id
        for r in ("run-a", "run-b")
    }

    assert len(ids) == 2


@pytest.mark.parametrize(
    "order",
    ["run-failure-then-last-service", "last-service-then-run-failure"],
)
def test_a_run_completes_once_when_a_run_wide_failure_and_its_last_service_both_finish_it(
    runs, order
):
    """One summary per run: the two ways a run ends must not each report it."""
    planned(runs, "user-service", "account-service")
    runs.apply(manifest_committed("user-service"))
    endings = [stage_failed(None, stage="detector"), manifest_committed("account-service")]
    if order == "last-service-then-run-failure":
        endings.reverse()

    completions = [runs.apply(event) for event in endings]

    assert len(completion_ids(completions)) == 1


# --- the scan's emergency bypass ---------------------------------------------------------


def test_a_skipped_scan_is_recorded_on_the_service_and_in_the_run_summary(runs):
    planned(runs, "user-service")
    skip = ScanBypass(by="dana@acme.dev", reason="INC-4211 hotfix")
    runs.apply(scan_passed("user-service").model_copy(update={"skipped": skip, "counts": {}}))

    completed = runs.apply(manifest_committed("user-service"))

    service = runs.get(RUN).services["user-service"]
    assert (service.scan_skipped_by, service.scan_skip_reason) == (
        "dana@acme.dev",
        "INC-4211 hotfix",
    )
    assert completed is not None
    assert completed.services["user-service"].scan_skipped == skip


def test_a_scanned_service_carries_no_skip_in_the_run_summary(runs):
    planned(runs, "user-service")
    runs.apply(scan_passed("user-service"))

    completed = runs.apply(manifest_committed("user-service"))

    assert completed is not None
    assert completed.services["user-service"].scan_skipped is None
    assert "scan_skipped_by" not in runs.get(RUN).services["user-service"].model_dump()

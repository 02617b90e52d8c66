"""Delivery metrics (DORA) from the event log: pure computation on logged event dicts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from services.common.delivery_metrics import DAY, compute
from services.common.events import (
    Envelope,
    ManifestCommitted,
    PushReceived,
    ScanFailed,
    Source,
)

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
COMMIT = "0123456789abcdef0123456789abcdef01234567"
SOURCE = Source(repository="acme/microbank", commit=COMMIT, ref="refs/heads/main")
REGISTRY = "127.0.0.1:5000/microbank"
WINDOW = (T0.timestamp() - DAY, T0.timestamp() + 10 * DAY)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def logged(event: Envelope) -> dict[str, Any]:
    """The event as the log stores it: its JSON, parsed."""
    parsed: dict[str, Any] = json.loads(event.model_dump_json())
    return parsed


def push(run_id: str, minute: float) -> dict[str, Any]:
    return logged(
        PushReceived(
            run_id=run_id,
            occurred_at=at(minute),
            provider="github",
            delivery_id=run_id,
            repository="acme/microbank",
            ref="refs/heads/main",
            before="a" * 40,
            after=COMMIT,
        )
    )


def committed(
    run_id: str,
    service: str,
    minute: float,
    old: str,
    new: str,
    kind: Literal["deploy", "release", "rollback"] = "deploy",
) -> dict[str, Any]:
    return logged(
        ManifestCommitted(
            run_id=run_id,
            occurred_at=at(minute),
            service=service,
            source=SOURCE,
            manifest_path=f"k8s/{service}.yaml",
            old_image=f"{REGISTRY}/{service}:{old}",
            new_image=f"{REGISTRY}/{service}:{new}",
            gitops_repository="acme/microbank",
            gitops_commit="f" * 40,
            branch="main",
            kind=kind,
        )
    )


def blocked(run_id: str, service: str, minute: float, tag: str) -> dict[str, Any]:
    return logged(
        ScanFailed(
            run_id=run_id,
            occurred_at=at(minute),
            service=service,
            source=SOURCE,
            image_repository=f"{REGISTRY}/{service}",
            tags=(tag,),
            digest="sha256:" + "ab" * 32,
            counts={"CRITICAL": 1},
            policy="default",
            findings=(),
        )
    )


def test_deployments_are_counted_per_service_and_per_day_of_the_window():
    events = [
        push("r1", 0),
        committed("r1", "cart", 3, "v0", "v1"),
        push("r2", 60),
        committed("r2", "cart", 62, "v1", "v2"),
        committed("r2", "users", 64, "v0", "v1"),
    ]

    report = compute(events, T0.timestamp(), T0.timestamp() + 2 * DAY)

    assert report.overall.deployments == 3
    assert report.overall.deployments_per_day == 1.5
    assert report.services["cart"].deployments == 2
    assert report.services["users"].deployments == 1


def test_lead_time_runs_from_the_push_to_the_manifest_commit():
    events = [
        push("r1", 0),
        committed("r1", "cart", 2, "v0", "v1"),
        push("r2", 10),
        committed("r2", "cart", 16, "v1", "v2"),
        push("r3", 20),
        committed("r3", "cart", 30, "v2", "v3"),
    ]

    lead = compute(events, *WINDOW).services["cart"].lead_time

    assert lead.count == 3
    assert lead.median_seconds == 6 * 60
    assert lead.mean_seconds == 6 * 60


def test_manual_deploys_without_a_push_have_no_lead_time_but_count_as_deployments():
    events = [committed("manual-1", "cart", 5, "v1", "v2")]

    metrics = compute(events, *WINDOW).services["cart"]

    assert metrics.deployments == 1
    assert metrics.lead_time.count == 0
    assert metrics.lead_time.median_seconds is None


def test_a_blocked_change_fails_and_is_restored_by_the_next_deploy_of_another_image():
    events = [
        push("r1", 0),
        committed("r1", "cart", 2, "v0", "v1"),
        push("r2", 10),
        blocked("r2", "cart", 12, "v2"),
        push("r3", 30),
        committed("r3", "cart", 42, "v1", "v3"),
    ]

    metrics = compute(events, *WINDOW).services["cart"]

    assert (metrics.change_failure.changes, metrics.change_failure.failed) == (3, 1)
    assert metrics.change_failure.rate == round(1 / 3, 4)
    assert metrics.time_to_restore.count == 1
    assert metrics.time_to_restore.median_seconds == 30 * 60
    assert metrics.time_to_restore.open == 0


def test_a_deploy_that_is_rolled_back_fails_and_the_rollback_restores_it():
    events = [
        push("r1", 0),
        committed("r1", "cart", 2, "v0", "v1"),
        push("r2", 10),
        committed("r2", "cart", 12, "v1", "v2"),
        committed("rb", "cart", 20, "v2", "v1", kind="rollback"),
    ]

    metrics = compute(events, *WINDOW).services["cart"]

    assert metrics.deployments == 2
    assert metrics.rollbacks == 1
    assert (metrics.change_failure.changes, metrics.change_failure.failed) == (2, 1)
    assert metrics.change_failure.rate == 0.5
    assert metrics.time_to_restore.median_seconds == 8 * 60


def test_a_failed_rollout_from_the_verifier_counts_as_a_failed_change():
    events = [
        push("r1", 0),
        committed("r1", "cart", 2, "v0", "v1"),
        {
            "type": "DeploymentFailed",
            "run_id": "r1",
            "service": "cart",
            "occurred_at": at(5).isoformat(),
        },
    ]

    metrics = compute(events, *WINDOW).services["cart"]

    assert (metrics.change_failure.changes, metrics.change_failure.failed) == (1, 1)
    assert metrics.time_to_restore.count == 0
    assert metrics.time_to_restore.open == 1


def test_an_unrestored_block_is_counted_as_open():
    events = [push("r1", 0), blocked("r1", "cart", 3, "v1")]

    restore = compute(events, *WINDOW).services["cart"].time_to_restore

    assert restore.open == 1
    assert restore.median_seconds is None


def test_overall_metrics_pool_every_service():
    events = [
        push("r1", 0),
        committed("r1", "cart", 4, "v0", "v1"),
        committed("r1", "users", 8, "v0", "v1"),
        blocked("r1", "orders", 6, "v1"),
    ]

    overall = compute(events, *WINDOW).overall

    assert overall.deployments == 2
    assert overall.lead_time.median_seconds == 6 * 60
    assert (overall.change_failure.changes, overall.change_failure.failed) == (3, 1)


def test_events_outside_the_window_are_left_out():
    events = [
        push("old", -3 * 24 * 60),
        committed("old", "cart", -3 * 24 * 60 + 5, "v0", "v1"),
        push("new", 0),
        committed("new", "cart", 5, "v1", "v2"),
    ]

    report = compute(events, *WINDOW)

    assert report.overall.deployments == 1


def test_no_events_give_empty_metrics_not_errors():
    report = compute([], *WINDOW)

    assert report.services == {}
    assert report.overall.deployments == 0
    assert report.overall.change_failure.rate is None
    assert report.overall.lead_time.median_seconds is None

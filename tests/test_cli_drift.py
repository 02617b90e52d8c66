"""The drift line `shipline status` prints, and the summary the gateway makes of a surveyed
row (pure: no component)."""

from __future__ import annotations

from services.cli.views import drift_line
from services.common.service_inventory import ServiceRow
from services.common.service_table import Drift, LastAttempt, ServiceState
from services.gateway.drift import drift_of

NOW = 1_800_000_000.0


def _row(deployed: str | None, behind_by: int | None) -> ServiceRow:
    return ServiceRow(
        service="cart",
        image="r/cart:x",
        manifest="k8s/cart.yaml",
        gitops_repository="acme/shop",
        gitops_commit="g" * 40,
        image_repository="r/cart",
        deployed_commit=deployed,
        desired_commit=None,
        behind_by=behind_by,
    )


def _state(drift: Drift, pinned: bool = False) -> ServiceState:
    return ServiceState(
        repository="acme/shop",
        service="cart",
        image="r/cart:x",
        manifest="k8s/cart.yaml",
        gitops_repository="acme/shop",
        gitops_commit="g" * 40,
        cluster=None,
        surveyed_at=NOW,
        pinned=pinned,
        pin=None,
        live=None,
        last_run=None,
        drift=drift,
    )


def test_a_row_is_behind_in_sync_or_unknown_from_its_deployed_commit_and_count() -> None:
    assert drift_of(_row("a" * 40, 3), None, None).state == "behind"
    assert drift_of(_row("a" * 40, 0), None, 50.0).state == "in_sync"
    assert drift_of(_row("a" * 40, 0), None, 50.0).retry_at is None  # nothing to retry
    assert drift_of(_row(None, None), None, None).state == "unknown"
    assert drift_of(_row("a" * 40, None), None, None).state == "unknown"
    assert drift_of(_row("1a2b3c4d" * 5, 3), None, None).since == "1a2b3c4"


def test_a_failed_build_and_a_retry_to_come_are_told_with_the_reason_first_line() -> None:
    failed = LastAttempt(run_id="r-1", status="failed", reason="registry unreachable\ntrace")
    drift = Drift(state="behind", behind_by=3, since="1a2b3c4", last_attempt=failed)

    line = drift_line(_state(drift.model_copy(update={"retry_at": NOW + 39.2})), NOW)

    assert line == (
        "behind by 3 commits since 1a2b3c4; last attempt failed: registry unreachable; "
        "retrying in 40 s"
    )


def test_a_build_under_way_a_retry_due_and_a_pin_are_told_too() -> None:
    running = LastAttempt(run_id="r-2", status="running")
    drift = Drift(
        state="behind", behind_by=1, since="1a2b3c4", last_attempt=running, retry_at=NOW - 1
    )

    line = drift_line(_state(drift, pinned=True), NOW)

    assert line == (
        "behind by 1 commit since 1a2b3c4; a build is under way (r-2); retrying now; "
        "held by its pin"
    )


def test_a_service_in_sync_or_unknown_has_no_line() -> None:
    assert drift_line(_state(Drift(state="in_sync", behind_by=0, since="1a2b3c4")), NOW) is None
    assert drift_line(_state(Drift(state="unknown")), NOW) is None

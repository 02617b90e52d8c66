import re

import pytest

from services.committer.decide import Held, Superseded, decide
from services.committer.messages import Deployed
from services.common.events import (
    Finding,
    RunCompleted,
    ScanBypass,
    ScanFailed,
    ServiceOutcome,
    Source,
    StageFailed,
)
from services.common.pins import Pin
from services.common.run_records import status_with_reason
from services.notifier.messages import body, summary
from tests.notifier.samples import COMMIT, SOURCE

AWS_KEY = Finding(
    kind="secret",
    id="aws-access-key-id",
    severity="CRITICAL",
    title="AWS Access Key ID",
    target="/app/.env:3",
)


def run_completed(status: str = "blocked") -> RunCompleted:
    return RunCompleted(
        run_id="run-42",
        status=status,
        repository="acme/microbank",
        commit=COMMIT,
        seconds=41.25,
        services={
            "user-service": ServiceOutcome(
                status="succeeded", image="127.0.0.1:5000/microbank/user-service:sha-6113728"
            ),
            "account-service": ServiceOutcome(
                status="blocked", reason=f"scan blocked: {AWS_KEY.describe()}"
            ),
        },
    )


def scan_failed() -> ScanFailed:
    return ScanFailed(
        run_id="run-42",
        service="account-service",
        source=SOURCE,
        image_repository="127.0.0.1:5000/microbank/account-service",
        tags=("sha-6113728", "latest"),
        digest="sha256:" + "ab" * 32,
        counts={"CRITICAL": 1},
        policy="any secret blocks",
        findings=(AWS_KEY,),
    )


def test_a_run_completed_body_carries_the_run_id_status_and_the_event():
    event = run_completed("succeeded")

    data = body(event)

    assert data["run_id"] == "run-42"
    assert data["status"] == "succeeded"
    assert data["event"]["type"] == "RunCompleted"
    assert data["event"]["services"]["user-service"]["status"] == "succeeded"
    assert data["text"] == summary(event)


def test_a_run_summary_names_the_repository_commit_and_duration():
    first_line = summary(run_completed()).splitlines()[0]

    assert "run run-42 blocked for acme/microbank@6113728 in 41.2s" in first_line


def test_a_run_summary_shows_the_image_of_a_service_that_succeeded():
    assert "user-service: succeeded 127.0.0.1:5000/microbank/user-service:sha-6113728" in (
        summary(run_completed())
    )


def test_a_run_summary_of_a_blocked_service_mentions_the_blocking_finding():
    lines = summary(run_completed()).splitlines()

    [blocked] = [line for line in lines if "account-service" in line]
    assert "blocked" in blocked
    assert "CRITICAL secret aws-access-key-id in /app/.env:3" in blocked


def test_a_scan_failed_body_has_status_blocked():
    data = body(scan_failed())

    assert data["status"] == "blocked"
    assert data["run_id"] == "run-42"


def test_a_scan_failed_summary_names_the_image_and_the_finding():
    text = summary(scan_failed())

    assert text == (
        "account-service: 127.0.0.1:5000/microbank/account-service:sha-6113728 "
        "blocked by the scan: CRITICAL secret aws-access-key-id in /app/.env:3"
    )


def test_a_stage_failed_body_has_status_failed_and_names_the_error():
    event = StageFailed(
        run_id="run-42",
        stage="builder",
        service="user-service",
        error_class="PermanentError",
        message="COPY failed: app.txt not found",
    )

    data = body(event)

    assert data["status"] == "failed"
    assert data["text"] == (
        "user-service builder failed: PermanentError: COPY failed: app.txt not found"
    )


def test_the_run_summary_says_whose_emergency_bypass_skipped_a_scan():
    skip = ScanBypass(by="dana@acme.dev", reason="INC-4211 hotfix")
    event = run_completed("succeeded").model_copy(
        update={
            "services": {
                "user-service": ServiceOutcome(
                    status="succeeded",
                    image="127.0.0.1:5000/microbank/user-service:sha-6113728",
                    scan_skipped=skip,
                )
            }
        }
    )

    text = summary(event)

    assert "user-service: succeeded 127.0.0.1:5000/microbank/user-service:sha-6113728" in text
    assert "scan SKIPPED by dana@acme.dev: INC-4211 hotfix" in text
    assert body(event)["event"]["services"]["user-service"]["scan_skipped"]["by"] == "dana@acme.dev"


def test_a_block_notification_names_the_broken_rules_before_the_findings():
    event = scan_failed().model_copy(
        update={"violations": ("1 secret found (secrets always block)",)}
    )

    assert summary(event) == (
        "account-service: 127.0.0.1:5000/microbank/account-service:sha-6113728 blocked by the "
        "scan: 1 secret found (secrets always block): "
        "CRITICAL secret aws-access-key-id in /app/.env:3"
    )


def _reasons_as_the_stages_write_them() -> dict[str, str]:
    """Each not-succeeded outcome with the reason its stage records (committer, projection)."""
    pin = Pin("acme/microbank", "user-service", "127.0.0.1:5000/u:sha-1111111", "ops", "rb-1", 0)
    older = Source(repository="acme/microbank", commit="1" * 40, ref="refs/heads/main")
    newer = Deployed("acme/microbank", "2" * 40)
    held = decide(older, None, pin, manual=False, is_ancestor=lambda _a, _b: False)
    superseded = decide(older, newer, None, manual=False, is_ancestor=lambda _a, _b: True)
    assert isinstance(held, Held) and isinstance(superseded, Superseded)
    return {
        "held": held.reason,
        "superseded": superseded.reason,
        "blocked": "blocked by 1 secret found (secrets always block)",
        "failed": "builder: PermanentError: COPY failed",
    }


DOUBLED_WORD = re.compile(r"\b([a-z]{2,})\W+\1\b", re.IGNORECASE)


@pytest.mark.parametrize("status", ["held", "superseded", "blocked", "failed"])
def test_a_run_summary_never_says_a_services_status_twice(status: str) -> None:
    reason = _reasons_as_the_stages_write_them()[status]
    outcome = ServiceOutcome(status=status, reason=reason)
    event = run_completed(status).model_copy(update={"services": {"user-service": outcome}})

    line = summary(event).splitlines()[1]

    assert DOUBLED_WORD.search(line) is None, line
    assert line.endswith(f"user-service: {status_with_reason(status, reason)}")
    assert status in line and reason in line


def test_a_status_and_a_reason_that_opens_with_it_read_once() -> None:
    assert status_with_reason("held", "held: pinned to x") == "held: pinned to x"
    assert status_with_reason("superseded", "superseded by 1234567") == "superseded by 1234567"
    assert status_with_reason("failed", "builder: exit 1") == "failed builder: exit 1"
    assert status_with_reason("blocked", "") == "blocked"

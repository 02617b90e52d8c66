"""A run summary is rebuilt from the run store's record: no Redis, records as RunStore.get
returns them."""

from __future__ import annotations

from typing import Any

import pytest

from services.common.errors import PermanentError
from services.common.run_models import Run
from services.notifier.recorded import recorded_summary
from tests.notifier.samples import COMMIT, REPOSITORY, RUN, run_completed

FORGED_COMMIT = "f" * 40


def record(**services: dict[str, Any]) -> dict[str, Any]:
    return {
        "run_id": RUN,
        "status": "succeeded",  # a RunCompleted's own status lands here: never read
        "trigger": "push",
        "created_at": 1764000000.0,
        "repository": REPOSITORY,
        "commit": COMMIT,
        "expected": str(len(services)),
        "services": services,
    }


def service(status: str, **fields: Any) -> dict[str, Any]:
    return {
        "status": status,
        "stage": "builder",
        "image": "",
        "digest": "",
        "reason": "",
        "seconds": 1.0,
        **fields,
    }


def test_the_status_commit_and_outcomes_come_from_the_record_not_the_event() -> None:
    forged = run_completed("succeeded").model_copy(
        update={"commit": FORGED_COMMIT, "repository": "acme/other"}
    )
    run = record(**{"user-service": service("failed", reason="builder: COPY failed")})

    summary = recorded_summary(forged, Run.model_validate(run))

    assert (summary.status, summary.commit, summary.repository) == ("failed", COMMIT, REPOSITORY)
    assert summary.services["user-service"].reason == "builder: COPY failed"
    assert summary.event_id == forged.event_id


def test_a_summary_of_a_run_the_store_does_not_have_is_not_sent() -> None:
    with pytest.raises(PermanentError, match="is not recorded"):
        recorded_summary(run_completed("succeeded"), None)


@pytest.mark.parametrize(
    "run",
    [
        record(**{"user-service": service("running")}),
        {**record(**{"user-service": service("succeeded")}), "expected": "2"},
        {k: v for k, v in record().items() if k != "expected"},  # queued, never planned
    ],
    ids=["a-service-running", "a-service-not-started", "never-planned"],
)
def test_a_summary_of_a_run_that_has_not_finished_is_not_sent(run: dict[str, Any]) -> None:
    with pytest.raises(PermanentError, match="has not finished"):
        recorded_summary(run_completed("succeeded"), Run.model_validate(run))


def test_a_run_failed_as_a_whole_is_summarised_as_failed_with_its_unfinished_services() -> None:
    run = {**record(**{"user-service": service("running")}), "failure": "detector: boom"}

    summary = recorded_summary(run_completed("succeeded"), Run.model_validate(run))

    assert summary.status == "failed"
    assert summary.services["user-service"].status == "failed"

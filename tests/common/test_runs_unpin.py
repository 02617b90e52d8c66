"""An unpin run (trigger `unpin`) projected by the run store, on a real Redis: the
committer's Unpinned ends it: the service succeeded with the commit, or skipped when git
held no pin."""

from __future__ import annotations

import pytest
import redis

from services.common.events import RunCompleted, Unpinned
from services.common.runs import RunStore

SHA = "fedcba9876543210fedcba9876543210fedcba98"


@pytest.fixture
def runs(redis_client: redis.Redis) -> RunStore:
    return RunStore(redis_client)


def unpinned(run_id: str, image: str = "", sha: str = "") -> Unpinned:
    return Unpinned(
        run_id=run_id,
        service="cart",
        repository="acme/shop",
        image=image,
        pinned_by="ops" if image else "",
        gitops_repository="acme/shop",
        gitops_commit=sha,
        branch="main",
    )


def started(runs: RunStore, run_id: str) -> None:
    runs.create(run_id, trigger="unpin", repository="acme/shop", services="cart")
    runs.plan(run_id, ["cart"])


def test_an_unpin_run_ends_succeeded_with_the_commit_that_removed_the_pin(runs):
    started(runs, "run-up")

    completed = runs.apply(unpinned("run-up", "reg/cart:v1", SHA))

    assert isinstance(completed, RunCompleted) and completed.status == "succeeded"
    service = runs.get("run-up").services["cart"]
    assert (service.status, service.reason, service.gitops_commit) == (
        "succeeded",
        "unpinned from reg/cart:v1",
        SHA,
    )


def test_an_unpin_of_a_service_git_did_not_pin_ends_skipped_saying_so(runs):
    started(runs, "run-up2")

    completed = runs.apply(unpinned("run-up2"))

    assert isinstance(completed, RunCompleted) and completed.status == "succeeded"
    outcome = completed.services["cart"]
    assert (outcome.status, outcome.reason) == ("skipped", "was not pinned")

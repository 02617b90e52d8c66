"""The retry decision: which services the reconciler builds again, and when (pure)."""

from __future__ import annotations

import pytest

from services.detector.attempts import Attempt
from services.reconciler.converge_state import RetryState
from services.reconciler.retry_decision import backoff, settled, started, step

FIRST, MOST = 60.0, 1800.0


def test_the_backoff_doubles_from_the_first_delay_up_to_its_ceiling() -> None:
    delays = [backoff(n, FIRST, MOST) for n in range(7)]
    assert delays == [60, 120, 240, 480, 960, 1800, 1800]
    assert backoff(10_000, FIRST, MOST) == MOST


def test_a_build_failed_on_an_outage_is_retried_only_once_the_first_delay_has_passed() -> None:
    seen = step("failed transiently", "push-run", None, 1000.0, FIRST, MOST)
    assert seen.state == RetryState(run_id="push-run", retry_at=1060.0)
    assert not seen.due
    assert not step("failed transiently", "push-run", seen.state, 1059.0, FIRST, MOST).due
    assert step("failed transiently", "push-run", seen.state, 1060.0, FIRST, MOST).due


def test_a_retry_that_fails_in_turn_waits_twice_as_long() -> None:
    mine = started(RetryState(run_id="push-run", retry_at=1060.0), "retry-1", 1061.0)
    assert mine == RetryState(run_id="retry-1", retries=1, retry_at=None, started_at=1061.0)
    under_way = step("under way", "retry-1", mine, 1070.0, FIRST, MOST)
    assert under_way.state == mine and not under_way.due
    failed = step("failed transiently", "retry-1", mine, 1100.0, FIRST, MOST)
    assert failed.state is not None and failed.state.retry_at == 1100.0 + 120.0
    assert not failed.due


@pytest.mark.parametrize("attempt", ["ended", "failed for good"])
def test_a_success_or_a_failure_for_good_forgets_the_service(attempt: Attempt) -> None:
    mine = RetryState(run_id="retry-1", retries=3, started_at=5.0)
    assert step(attempt, "retry-1", mine, 10.0, FIRST, MOST).state is None
    assert not step(attempt, "retry-1", mine, 10.0, FIRST, MOST).due


def test_a_permanent_failure_is_never_retried() -> None:
    assert step("failed for good", "push-run", None, 10.0, FIRST, MOST).state is None


def test_a_push_that_sends_the_service_again_resets_its_backoff() -> None:
    mine = RetryState(run_id="retry-4", retries=4, retry_at=99.0)
    assert step("under way", "push-run-2", mine, 50.0, FIRST, MOST).state is None
    failed = step("failed transiently", "push-run-2", mine, 50.0, FIRST, MOST)
    assert failed.state == RetryState(run_id="push-run-2", retry_at=110.0)


def test_a_retry_whose_run_never_planned_its_build_is_tried_again_after_its_backoff() -> None:
    mine = RetryState(run_id="retry-1", retries=1, started_at=100.0)
    waiting = step("none", "retry-1", mine, 150.0, FIRST, MOST)
    assert waiting.state is not None and waiting.state.retry_at == 220.0
    assert not waiting.due
    assert step("none", "retry-1", waiting.state, 220.0, FIRST, MOST).due


def test_a_service_with_no_retry_and_no_failure_keeps_nothing() -> None:
    for attempt in ("none", "under way", "ended"):
        assert step(attempt, "push-run", None, 1.0, FIRST, MOST).state is None


def test_a_service_git_settled_is_left_alone_until_a_push_sends_it_again() -> None:
    due = RetryState(run_id="push-run", retry_at=60.0)
    kept = settled(due, "pinned")
    assert kept.retry_at is None
    for attempt in ("failed transiently", "none"):
        later = step(attempt, "push-run", kept, 10_000.0, FIRST, MOST)  # type: ignore[arg-type]
        assert later.state == kept and not later.due
    again = step("failed transiently", "push-run-2", kept, 10_000.0, FIRST, MOST)
    assert again.state == RetryState(run_id="push-run-2", retry_at=10_060.0)

"""When the sweep from git builds a service: only one seen behind and unaccounted for by two
sweeps `grace` apart at the same head, and how soon it sweeps again."""

from __future__ import annotations

from services.reconciler.sweep_decision import SweepState, sweep_due, sweep_later, sweep_step

EVERY, GRACE = 300.0, 30.0


def test_a_repository_never_swept_is_swept_at_once_and_then_every_period() -> None:
    assert sweep_due(None, 0.0)
    step = sweep_step(None, "h1", [], 100.0, EVERY, GRACE)
    assert step.build == () and step.state.next_at == 100.0 + EVERY
    assert not sweep_due(step.state, 100.0 + EVERY - 1)
    assert sweep_due(step.state, 100.0 + EVERY)


def test_a_service_unaccounted_for_is_built_only_when_the_next_sweep_sees_it_again() -> None:
    first = sweep_step(None, "h1", ["user-service"], 100.0, EVERY, GRACE)
    assert first.build == () and first.state.pending == ("user-service",)
    assert first.state.next_at == 100.0 + GRACE  # looked at again soon, not in five minutes

    second = sweep_step(first.state, "h1", ["user-service", "frontend"], 130.0, EVERY, GRACE)
    assert second.build == ("user-service",)
    assert second.state.pending == ("frontend",)  # seen once: built next time, if still so


def test_a_service_accounted_for_by_the_next_sweep_is_not_built() -> None:
    first = sweep_step(None, "h1", ["user-service"], 100.0, EVERY, GRACE)
    second = sweep_step(first.state, "h1", [], 130.0, EVERY, GRACE)  # a push sent it
    assert second.build == () and second.state.pending == ()
    assert second.state.next_at == 130.0 + EVERY


def test_a_head_that_moved_between_the_sweeps_starts_the_count_again() -> None:
    first = sweep_step(None, "h1", ["user-service"], 100.0, EVERY, GRACE)
    second = sweep_step(first.state, "h2", ["user-service"], 130.0, EVERY, GRACE)
    assert second.build == () and second.state == SweepState(
        head="h2", checked_at=130.0, next_at=160.0, pending=("user-service",)
    )


def test_a_sweep_git_could_not_answer_keeps_what_it_saw_and_asks_again_soon() -> None:
    first = sweep_step(None, "h1", ["user-service"], 100.0, EVERY, GRACE)
    later = sweep_later(first.state, 130.0, GRACE)
    assert (later.head, later.pending, later.next_at) == ("h1", ("user-service",), 160.0)
    assert sweep_later(None, 0.0, GRACE).next_at == GRACE

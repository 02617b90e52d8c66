"""When the reconciler sweeps a repository, and which services it builds: pure.

The sweep is convergence from git alone: the services behind the default branch's head
(git's word: services/reconciler/behind.py) that nothing in Redis accounts for (no build
sent, or the run it was sent in forgotten, and no retry kept: what a Redis data loss
leaves). Such a service is built only when two sweeps at least `grace` apart see it so at
the same head: a push's detector answers within that, so a push in flight is never raced.
A repository is swept again after `every` seconds, or `grace` while a service waits for its
second sighting or git could not be read; a repository never swept (Redis lost the record,
or the process just started) at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict


class SweepState(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    head: str | None = None  # the default branch's head at the last sweep
    checked_at: float  # epoch seconds
    next_at: float  # when to sweep again
    pending: tuple[str, ...] = ()  # seen behind and unaccounted for once: built if seen again


@dataclass(frozen=True)
class SweepStep:
    build: tuple[str, ...]  # build these at the head now
    state: SweepState


def sweep_due(state: SweepState | None, now: float) -> bool:
    return state is None or now >= state.next_at


def sweep_step(
    state: SweepState | None,
    head: str,
    unaccounted: Sequence[str],
    now: float,
    every: float,
    grace: float,
) -> SweepStep:
    """What a sweep that found `unaccounted` behind `head` does, after `state`."""
    seen = set(state.pending) if state is not None and state.head == head else set()
    build = tuple(s for s in unaccounted if s in seen)
    pending = tuple(s for s in unaccounted if s not in seen)
    again = now + (grace if pending else every)
    return SweepStep(build, SweepState(head=head, checked_at=now, next_at=again, pending=pending))


def sweep_later(state: SweepState | None, now: float, grace: float) -> SweepState:
    """The state after a sweep git could not answer: asked again after `grace`."""
    head = None if state is None else state.head
    pending = () if state is None else state.pending
    return SweepState(head=head, checked_at=now, next_at=now + grace, pending=pending)

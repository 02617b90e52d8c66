"""Which in-flight deliveries are lost: pure, from what the event log and Redis showed.

A delivery is one event on its way to one stage that consumes it. Per run, only the newest
event of each service (and of the run itself, service None) is looked at: an older event's
stage already published the newer one. A delivery is lost when its event was published
longer ago than the visibility timeout and it is neither queued, unacknowledged, claimed,
done, nor re-driven within the visibility timeout; whatever could not be read counts as
seen, so doubt never re-drives.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from services.common.bus import stages_for, task_id
from services.common.events import Envelope


@dataclass(frozen=True)
class Delivery:
    """`event` (published at `published_at`, seconds) on its way to `stage`, as the
    `index`-th stage consuming it: its task id is bus.task_id(event, index, stage)."""

    event: Envelope
    stage: str
    index: int
    published_at: float

    @property
    def task_id(self) -> str:
        return task_id(self.event, self.index, self.stage)

    @property
    def service(self) -> str | None:
        return getattr(self.event, "service", None)


@dataclass(frozen=True)
class Sighting:
    """Where a delivery was seen; None: could not be told (e.g. a queue too long to read)."""

    queued: bool | None = False
    unacked: bool | None = False
    claimed: bool = False
    done: bool = False
    redriven: bool = False  # re-driven within the visibility timeout already


class Verdict(Enum):
    YOUNG = "young"
    QUEUED = "queued"
    UNACKED = "unacked"
    CLAIMED = "claimed"
    DONE = "done"
    REDRIVEN = "re-driven recently"
    LOST = "lost"


def deliveries(published: Iterable[tuple[float, Envelope]]) -> list[Delivery]:
    """The deliveries of each service's newest event (the run's own events under None),
    from a run's events as logged: (publish time, event), in any order."""
    newest: dict[str | None, tuple[float, Envelope]] = {}
    for at, event in published:
        group = getattr(event, "service", None)
        if group not in newest or at >= newest[group][0]:
            newest[group] = (at, event)
    return [
        Delivery(event, stage, index, at)
        for at, event in sorted(newest.values(), key=lambda entry: entry[0])
        for index, stage in enumerate(stages_for(event))
    ]


def is_old(delivery: Delivery, now: float, visibility_timeout: float) -> bool:
    """Published longer ago than the visibility timeout: kombu would have handed an
    unacknowledged copy back by now, so a delivery seen nowhere is not merely in transit."""
    return now - delivery.published_at > visibility_timeout


def verdict(delivery: Delivery, seen: Sighting, now: float, visibility_timeout: float) -> Verdict:
    if not is_old(delivery, now, visibility_timeout):
        return Verdict.YOUNG
    if seen.done:
        return Verdict.DONE
    if seen.claimed:
        return Verdict.CLAIMED
    if seen.unacked is not False:
        return Verdict.UNACKED
    if seen.queued is not False:
        return Verdict.QUEUED
    if seen.redriven:
        return Verdict.REDRIVEN
    return Verdict.LOST

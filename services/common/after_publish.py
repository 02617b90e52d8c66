"""Work a stage owes for an event but the next stage does not wait for: done once the
event's outputs are published, before the event is marked done.

The scanner's SBOM and the detector's survey for the API are such work: a deploy needs
neither, and each took tens of milliseconds off every push's lead time while it came
before the publish. Marked done only afterwards, the work is not lost to a worker that
dies in between: the event is delivered again, handled again (its outputs carry the same
event ids, so the next stage drops the repeats) and the work is done then.

A handler called outside the stage runner (a test, a script) does the work at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

Work = Callable[[], object]  # what it returns is dropped
_PENDING: ContextVar[list[Work] | None] = ContextVar("after_publish", default=None)


def after_publish(work: Work) -> None:
    """Do `work` once the stage has published what it is handling now (at once outside a
    stage runner). It must not raise for anything but Redis being away: its failures are
    its own to record."""
    pending = _PENDING.get()
    if pending is None:
        work()
    else:
        pending.append(work)


@contextmanager
def deferring() -> Iterator[list[Work]]:
    """Collect the work `after_publish` is given inside, for the runner to do later."""
    pending: list[Work] = []
    token = _PENDING.set(pending)
    try:
        yield pending
    finally:
        _PENDING.reset(token)

"""A prefork worker's own threads (the reconciler, the code-scanning follow-up) and the forks
of Celery's pool.

A fork copies every lock another thread holds, held, and no thread in the child ever
releases it. A child forked while the reconciler was importing a module (or reading the
cached shipline.yaml, or logging) waits forever once it takes the same lock, as a stage's
first event does when it imports what it has not yet (what CI's stages that hung right
after `handling` point to). So those threads work inside
`FORK_GATE.working()`, and a fork of the process waits until none is inside (os.register_at_fork);
the child starts with the gate open. The wait is bounded: a thread stuck in its work (a host
that never answers) delays a fork by `MAX_WAIT_SECONDS`, not forever.

Threads start only once the pool has forked its children (services/common/worker.py), so
the gate matters when the pool replaces a child.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

MAX_WAIT_SECONDS = 10.0


class ForkGate:
    def __init__(self) -> None:
        self._open()

    def _open(self) -> None:
        self._condition = threading.Condition()
        self._working = 0
        self._forking = False
        self._inside = threading.local()

    @contextmanager
    def working(self) -> Iterator[None]:
        with self._condition:
            while self._forking:
                self._condition.wait()
            self._working += 1
        self._inside.now = True
        try:
            yield
        finally:
            self._inside.now = False
            with self._condition:
                self._working -= 1
                self._condition.notify_all()

    def before_fork(self) -> None:
        if getattr(self._inside, "now", False):
            return  # the working thread forks itself (a subprocess): nothing to wait for
        self._condition.acquire()
        self._forking = True
        deadline = time.monotonic() + MAX_WAIT_SECONDS
        while self._working and (left := deadline - time.monotonic()) > 0:
            self._condition.wait(left)

    def after_fork_in_parent(self) -> None:
        if getattr(self._inside, "now", False):
            return
        self._forking = False
        self._condition.notify_all()
        self._condition.release()

    def after_fork_in_child(self) -> None:
        self._open()  # none of the parent's threads is here


FORK_GATE = ForkGate()
os.register_at_fork(
    before=FORK_GATE.before_fork,
    after_in_parent=FORK_GATE.after_fork_in_parent,
    after_in_child=FORK_GATE.after_fork_in_child,
)

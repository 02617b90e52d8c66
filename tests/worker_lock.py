"""One pytest-xdist worker at a time prepares what the workers share.

`make test-parallel` runs the tests on parallel workers (pytest-xdist), each with its own session
fixtures. Most start a private component (Redis, a registry) and need no care; the ones
that fill a cache shared by every worker (an image in the private dockerd, a binary in the
devenv state dir) take this lock, so the first worker does the work and the others find it
done instead of doing it again at the same time.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def one_worker_at_a_time(state_dir: Path, name: str) -> Iterator[None]:
    """Hold the exclusive lock ``<state_dir>/<name>.lock`` (released on close, or by a crash)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    with (state_dir / f"{name}.lock").open("ab") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield

"""One writer per gitops branch across every committer: a Redis lock held as a renewed lease.

The lock lapses ``lease`` seconds after its holder last renewed it, so a committer killed
while writing (kill -9, a lost node) holds up the others for seconds, not minutes; a live
holder renews it every third of that, however long git takes.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from services.common.errors import TransientError

LEASE_SECONDS = 10.0


class GitopsLock:
    """The lock of one gitops repository and branch, waited for up to `wait` seconds."""

    def __init__(self, redis: Any, wait: float) -> None:
        self._redis = redis
        self._wait = wait

    def held(self, repository: str, branch: str) -> contextlib.AbstractContextManager[None]:
        return held_lock(self._redis, gitops_lock_key(repository, branch), wait=self._wait)


def gitops_lock_key(repository: str, branch: str) -> str:
    return f"shipline:lock:gitops:{repository}:{branch}"


@contextlib.contextmanager
def held_lock(redis: Any, key: str, wait: float, lease: float = LEASE_SECONDS) -> Iterator[None]:
    """Hold the lock `key` (waiting up to `wait` seconds for it) while the block runs."""
    lock = redis.lock(key, timeout=lease, thread_local=False)  # the renewer thread needs its token
    if not lock.acquire(blocking_timeout=wait):
        raise TransientError(f"{key} stayed locked for {wait:.0f}s")
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(lease / 3):
            try:
                lock.reacquire()
            except Exception:  # noqa: BLE001 - lost or unreachable: the push race check decides
                return

    renewer = threading.Thread(target=renew, name=f"lease {key}", daemon=True)
    renewer.start()
    try:
        yield
    finally:
        stop.set()
        renewer.join()
        with contextlib.suppress(Exception):
            lock.release()

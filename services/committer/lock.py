"""One writer per gitops branch across every committer: a Redis lock held as a renewed lease.

The lock lapses ``lease`` seconds after its holder last renewed it, so a committer killed
while writing (kill -9, a lost node) holds up the others for seconds, not minutes; a live
holder renews it every third of that, however long git takes.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Protocol

from services.common.errors import TransientError
from services.common.keyspace import DEFAULT_KEYSPACE, Keyspace

LEASE_SECONDS = 10.0


class Lease(Protocol):
    """A Redis lock as redis-py's `Lock` is: taken, renewed, given back."""

    def acquire(self, *, blocking_timeout: float | None = None) -> bool: ...
    def reacquire(self) -> bool: ...
    def release(self) -> None: ...


class LockingClient(Protocol):
    """The one command the lock needs of a Redis client (redis.Redis has it)."""

    def lock(
        self, name: str, timeout: float | None = None, *, thread_local: bool = True
    ) -> Lease: ...


class GitopsLock:
    """The lock of one gitops repository and branch, waited for up to `wait` seconds."""

    def __init__(
        self, client: LockingClient, wait: float, *, keys: Keyspace = DEFAULT_KEYSPACE
    ) -> None:
        self._client = client
        self._wait = wait
        self._keys = keys

    def held(self, repository: str, branch: str) -> contextlib.AbstractContextManager[None]:
        key = self._keys.gitops_lock(repository, branch)
        return held_lock(self._client, key, wait=self._wait)


@contextlib.contextmanager
def held_lock(
    client: LockingClient, key: str, wait: float, lease: float = LEASE_SECONDS
) -> Iterator[None]:
    """Hold the lock `key` (waiting up to `wait` seconds for it) while the block runs."""
    lock = client.lock(key, timeout=lease, thread_local=False)  # the renewer thread needs its token
    if not lock.acquire(blocking_timeout=wait):
        raise TransientError(f"{key} stayed locked for {wait:.0f}s")
    stop = threading.Event()
    renewer = threading.Thread(
        target=_renew, args=(lock, stop, lease), name=f"lease {key}", daemon=True
    )
    renewer.start()
    try:
        yield
    finally:
        stop.set()
        renewer.join()
        with contextlib.suppress(Exception):
            lock.release()


def _renew(lock: Lease, stop: threading.Event, lease: float) -> None:
    """Renew the lease every third of it until `stop` is set or the lock is lost."""
    while not stop.wait(lease / 3):
        try:
            lock.reacquire()
        except Exception:  # noqa: BLE001 - lost or unreachable: the push race check decides
            return

"""One reconciler acts at a time, in whichever process holds the lease.

Every worker process runs a reconciler thread; each tries to take the lease
(`keys.reconciler_leader`: SET NX PX with a token, redis-py's Lock) once a period. The
holder renews it every third of LEASE_SECONDS and passes every `period_seconds`, and soon
after a new run appears in the run index (a push). A holder that fails to renew (it stalled,
Redis failed over) stops acting at once; its lease lapses and another process takes it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable

import redis
import redis.exceptions

from services.common.fork_gate import FORK_GATE
from services.common.logging import get_logger
from services.reconciler.reconcile import PassReport

LEASE_SECONDS = 15.0
TICK_SECONDS = 1.0  # how often the holder looks for a new run and renews when due


class Leadership:
    """The reconciler's lease, as one process holds it."""

    def __init__(self, client: redis.Redis, key: str, lease_seconds: float = LEASE_SECONDS):
        # thread_local=False: the token must outlive the thread that took the lease
        self._lock = client.lock(key, timeout=lease_seconds, thread_local=False)
        self._lease = lease_seconds
        self._renewed: float | None = None  # monotonic time of the last take or renewal

    @property
    def held(self) -> bool:
        return self._renewed is not None

    def hold(self) -> bool:
        """Take the lease, or renew it when a third of it has passed; False when this
        process does not (or no longer) hold it."""
        now = time.monotonic()
        try:
            if self._renewed is None:
                if not self._lock.acquire(blocking=False):
                    return False
            elif now - self._renewed >= self._lease / 3:
                self._lock.reacquire()  # raises LockNotOwnedError once another holds it
            else:
                return True
        except (redis.exceptions.LockError, redis.exceptions.RedisError):
            self._renewed = None
            return False
        self._renewed = now
        return True

    def release(self) -> None:
        if self._renewed is not None:
            self._renewed = None
            with contextlib.suppress(redis.exceptions.LockError, redis.exceptions.RedisError):
                self._lock.release()


Pass = Callable[[Callable[[], bool]], PassReport]


class ReconcilerLoop:
    """Passes while holding the lease: every `period` seconds, and on `woken()`."""

    def __init__(
        self,
        leadership: Leadership,
        reconcile: Pass,
        period: float,
        woken: Callable[[], bool] = lambda: False,
        tick: float = TICK_SECONDS,
    ) -> None:
        self._leadership, self._reconcile, self._woken = leadership, reconcile, woken
        self._period, self._tick = period, min(tick, period)
        self.stopped = threading.Event()

    def run(self) -> None:
        log = get_logger(component="reconciler")
        last_pass = float("-inf")
        while not self.stopped.is_set():
            wait = self._period
            try:
                with FORK_GATE.working():  # a fork meanwhile would copy the locks it holds
                    if self._leadership.hold():
                        wait = self._tick
                        woken = self._woken()
                        if woken or time.monotonic() - last_pass >= self._period:
                            last_pass = time.monotonic()
                            self._report(self._reconcile(self._leadership.hold))
            except Exception as exc:  # noqa: BLE001 - a failed pass must not end the thread
                log.warning("reconciler pass failed", error=f"{type(exc).__name__}: {exc}")
            self.stopped.wait(wait)
        self._leadership.release()

    def stop(self) -> None:
        self.stopped.set()

    @staticmethod
    def _report(report: PassReport) -> None:
        if report.redriven:
            get_logger(component="reconciler").warning(
                "reconciler pass re-drove lost messages",
                runs=report.runs,
                redriven=len(report.redriven),
            )

"""The watchdog of one build: its deadline and its interrupt, asked about twice a second.

When either says stop, the socket of the engine request in flight is shut (the blocked read
returns) and the build is cancelled in the engine. The docker SDK's requests are followed
through a response hook, per thread.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any

import docker.errors
import requests
import requests.exceptions
import urllib3.exceptions

from services.common.errors import PermanentError

WATCH_INTERVAL = 0.5
Interrupt = Callable[[], str | None]
STREAM_ERRORS = (
    requests.exceptions.RequestException,
    urllib3.exceptions.HTTPError,
    OSError,
)


class BuildInterrupted(PermanentError):
    """The build stopped before it finished: ``reason`` is 'timeout' or what interrupt() said."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


_current = threading.local()


def remember_response(response: requests.Response, *args: object, **kwargs: object) -> None:
    """A requests hook: the response of this thread's last request, so the watchdog can cut it."""
    _current.response = response


def forget_response() -> None:
    """Before a new request: the watchdog must not cut the previous one."""
    _current.response = None


class Watch:
    """Deadline and interrupt for one build: cuts the request in flight when either fires."""

    def __init__(self, deadline: float | None, interrupt: Interrupt | None) -> None:
        self._deadline = deadline
        self._interrupt = interrupt
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._response: requests.Response | None = None
        self._cancel: Callable[[], None] | None = None
        self._thread: threading.Thread | None = None
        self.reason: str | None = None

    def __enter__(self) -> Watch:
        if self._deadline is not None or self._interrupt is not None:
            self._thread = threading.Thread(target=self._run, name="build-watch", daemon=True)
            self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._close(self._response)

    def follow(
        self, stream: Iterator[dict[str, Any]], cancel: Callable[[], None] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Iterate a streaming response the watchdog may cut (and `cancel`); closes it when done."""
        response = getattr(_current, "response", None)
        with self._lock:
            self._response, self._cancel = response, cancel
        if self.reason:
            _cut(response)
            _call(cancel)
        try:
            yield from stream
        finally:
            with self._lock:
                self._response, self._cancel = None, None
            self._close(response)

    def check(self) -> None:
        if self.reason:
            raise BuildInterrupted(self.reason, self._message(None))

    def confirm(self) -> None:
        """Ask the interrupt now rather than at the next tick: before a push, which no cancel
        can take back."""
        if not self.reason and (reason := self._why_stop()):
            self.reason = reason
        self.check()

    def raise_if_stopped(self, timeout: float | None) -> None:
        if self.reason:
            raise BuildInterrupted(self.reason, self._message(timeout)) from None

    def sleep(self, seconds: float) -> None:
        self._done.wait(seconds)
        self.check()

    def _message(self, timeout: float | None) -> str:
        if self.reason == "timeout":
            limit = f" of {timeout:.0f}s" if timeout else ""
            return f"build cancelled: it exceeded its timeout{limit} (builder.timeout_seconds)"
        return f"build cancelled: {self.reason}"

    def _run(self) -> None:
        while not self._done.wait(WATCH_INTERVAL):
            reason = self._why_stop()
            if reason:
                self.reason = reason
                with self._lock:
                    _cut(self._response)
                    _call(self._cancel)
                return

    def _why_stop(self) -> str | None:
        if self._deadline is not None and time.monotonic() >= self._deadline:
            return "timeout"
        if self._interrupt is None:
            return None
        try:
            return self._interrupt()
        except Exception:  # noqa: BLE001 - a failing check must not stop a healthy build
            return None

    @staticmethod
    def _close(response: requests.Response | None) -> None:
        if response is not None:
            response.close()


def _call(cancel: Callable[[], None] | None) -> None:
    """Ask the engine to cancel a build; the engine being unreachable changes nothing then."""
    if cancel is None:
        return
    with contextlib.suppress(docker.errors.DockerException, *STREAM_ERRORS):
        cancel()


def _cut(response: requests.Response | None) -> None:
    """Shut the socket under a streaming response: the blocked read returns, the engine cancels."""
    if response is None:
        return
    connection = getattr(response.raw, "connection", None)
    sock = getattr(connection, "sock", None)
    if sock is None:
        return
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)

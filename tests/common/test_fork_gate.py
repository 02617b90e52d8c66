"""The fork gate (services/common/fork_gate.py): a prefork pool's fork waits for the worker's
own threads to be out of their work, so no child starts with a lock a thread of its parent
held (CI's hang: a stage's first event importing what the reconciler was importing)."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.common import fork_gate
from services.common.fork_gate import FORK_GATE

CHILD_PATIENCE = 3  # seconds a forked child gives the lock or the import


@pytest.fixture
def slow_module(tmp_path: Path) -> Iterator[str]:
    """A module whose import takes half a second, importable once per test."""
    name = f"slow_import_{os.getpid()}_{time.monotonic_ns()}"
    (tmp_path / f"{name}.py").write_text("import time\ntime.sleep(0.5)\nREADY = True\n")
    sys.path.insert(0, str(tmp_path))
    yield name
    sys.path.remove(str(tmp_path))
    sys.modules.pop(name, None)


def forked(child: object) -> int:
    """Fork; the child runs `child()` (True: exit 0; False 1; raised 2) under an alarm (-14
    when it hangs); the child's exit code."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child's own exit code is the assertion
        import signal

        signal.alarm(CHILD_PATIENCE)
        try:
            os._exit(0 if child() else 1)  # type: ignore[operator]
        except BaseException:  # noqa: BLE001 - never back into pytest from the child
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_a_child_forked_while_a_working_thread_imports_a_module_imports_it_too(
    slow_module: str,
) -> None:
    importing = threading.Event()

    def reconciler_pass() -> None:
        with FORK_GATE.working():
            importing.set()
            __import__(slow_module)

    thread = threading.Thread(target=reconciler_pass)
    thread.start()
    importing.wait()
    time.sleep(0.1)  # inside the import now

    code = forked(lambda: __import__(slow_module).READY)

    thread.join()
    assert code == 0  # without the gate: stuck on the module's lock (-14), or a deadlock error


def test_a_child_never_starts_with_a_lock_a_working_thread_held() -> None:
    lock, holding = threading.Lock(), threading.Event()

    def reconciler_pass() -> None:
        with FORK_GATE.working(), lock:
            holding.set()
            time.sleep(0.3)

    thread = threading.Thread(target=reconciler_pass)
    thread.start()
    holding.wait()

    code = forked(lambda: lock.acquire(timeout=1))

    thread.join()
    assert code == 0


def test_a_thread_stuck_in_its_work_delays_a_fork_only_so_long(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(fork_gate, "MAX_WAIT_SECONDS", 0.3)
    release, inside = threading.Event(), threading.Event()

    def stuck() -> None:
        with FORK_GATE.working():
            inside.set()
            release.wait(10)

    thread = threading.Thread(target=stuck)
    thread.start()
    inside.wait()
    started = time.monotonic()

    code = forked(lambda: True)

    waited = time.monotonic() - started
    release.set()
    thread.join()
    assert code == 0 and 0.25 < waited < 3


def test_work_after_a_fork_goes_on_in_the_parent_and_in_the_child() -> None:
    def work_once() -> bool:
        with FORK_GATE.working():
            return True

    assert forked(work_once) == 0
    assert work_once()

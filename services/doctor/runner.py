"""Run checks concurrently, each within its own deadline, so doctor never hangs.

Every check runs in a daemon thread: one that does not answer in time is reported as failed
and left behind (its adapter's own timeouts end it later), and the process can still exit.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from services.common.logging import redact_url_credentials
from services.doctor.result import CheckResult, fail

PARALLEL = 8


@dataclass(frozen=True)
class Check:
    name: str
    run: Callable[[], Sequence[CheckResult]]
    timeout: float = 5.0
    fix: str = "check the network path to it; doctor waits this long for each check"


@dataclass
class _Running:
    check: Check
    started_at: float = 0.0
    started: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    results: list[CheckResult] = field(default_factory=list)


def run_checks(
    checks: Sequence[Check],
    *,
    parallel: int = PARALLEL,
    clock: Callable[[], float] = time.monotonic,
) -> list[CheckResult]:
    """The checks' results in the checks' order; a check that raised or ran out of time is
    one failed line naming it."""
    if not checks:
        return []
    slots = threading.Semaphore(parallel)
    running = [_Running(check) for check in checks]
    for state in running:
        threading.Thread(target=_run, args=(state, slots, clock), daemon=True).start()
    # a check waits for a slot at most as long as every check before it could take
    waves = math.ceil(len(checks) / parallel)
    start_by = clock() + waves * max(check.timeout for check in checks) + 1.0
    results: list[CheckResult] = []
    for state in running:
        check = state.check
        if not state.started.wait(max(0.0, start_by - clock())):
            results.append(
                fail(check.name, "did not start: the checks before it took too long", check.fix)
            )
            continue
        remaining = state.started_at + check.timeout - clock()
        if not state.done.wait(max(0.0, remaining)):
            results.append(fail(check.name, f"no answer within {check.timeout:g}s", check.fix))
            continue
        results.extend(state.results)
    return results


def _run(state: _Running, slots: threading.Semaphore, clock: Callable[[], float]) -> None:
    with slots:
        state.started_at = clock()
        state.started.set()
        try:
            state.results = list(state.check.run())
        except Exception as exc:  # noqa: BLE001 - a broken check is one failed line, not a crash
            reason = redact_url_credentials(f"{type(exc).__name__}: {exc}")[:300]
            state.results = [
                fail(state.check.name, f"the check itself failed: {reason}", "report this as a bug")
            ]
        finally:
            state.done.set()

"""A small process supervisor for `shipline up`: start children, restart the ones that die."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

from services.common.logging import get_logger

RESTART_DELAY = 1.0
STOP_GRACE = 15.0


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0


@dataclass
class Supervisor:
    env: dict[str, str]
    children: list[Child] = field(default_factory=list)
    _stopping: bool = False

    def add(self, name: str, *args: str) -> None:
        self.children.append(Child(name, [sys.executable, "-m", "services.cli", *args]))

    def run(self) -> int:
        log = get_logger(component="supervisor")
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        for child in self.children:
            self._start(child)
        try:
            while not self._stopping:
                for child in self.children:
                    if child.process and child.process.poll() is not None and not self._stopping:
                        log.warning(
                            "child exited, restarting",
                            child=child.name,
                            code=child.process.returncode,
                        )
                        child.restarts += 1
                        time.sleep(min(RESTART_DELAY * child.restarts, 10))
                        self._start(child)
                time.sleep(0.5)
        finally:
            self._terminate_all()
        return 0

    def _start(self, child: Child) -> None:
        child.process = subprocess.Popen(child.argv, env=self.env)

    def _stop(self, signum: int, _frame: object) -> None:
        self._stopping = True

    def _terminate_all(self) -> None:
        alive = [c.process for c in self.children if c.process and c.process.poll() is None]
        for process in alive:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        for process in alive:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()

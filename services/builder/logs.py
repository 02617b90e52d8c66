"""Build logs: one file per run and service under the workdir, and the tail for error messages.

``<workdir>/builds/<run_id>/<service>.log`` collects every attempt of that service's build in
that run (each after a header line), written as the engine streams it, each line prefixed
with the seconds since the attempt started.
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import IO

TAIL_LINES = 20
ENGINE_TAIL = 30  # lines of engine output kept for error messages
USING_CACHE = "---> Using cache"  # the classic builder's line for a cached step
LineSink = Callable[[str], None]
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def build_log_path(workdir: Path, run_id: str, service: str) -> Path:
    """Where a run's build log of a service lives; names are made safe for the filesystem."""
    safe_run = _UNSAFE.sub("_", run_id).strip(".") or "_"
    safe_service = _UNSAFE.sub("_", service).strip(".") or "_"
    return workdir / "builds" / safe_run / f"{safe_service}.log"


class BuildLog:
    def __init__(self, path: Path, title: str) -> None:
        self.path = path
        self._title = title
        self._tail: deque[str] = deque(maxlen=TAIL_LINES)
        self._file: IO[str] | None = None
        self._started = time.monotonic()

    def __enter__(self) -> BuildLog:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("a", encoding="utf-8", errors="replace")
        started = datetime.now(UTC).isoformat(timespec="seconds")
        self._file.write(f"=== {self._title} at {started} ===\n")
        self._started = time.monotonic()
        self._file.flush()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._file is not None:
            if exc is not None:
                first = (str(exc).splitlines() or [type(exc).__name__])[0]
                self._file.write(f"=== failed: {first}\n")
            self._file.close()
            self._file = None

    def write(self, line: str) -> None:
        self._tail.append(line)
        if self._file is not None:
            self._file.write(f"[{time.monotonic() - self._started:7.2f}s] {line}\n")
            self._file.flush()

    def tail(self, budget: int = 1200) -> str:
        """The last lines, as many as fit in `budget` characters (each cut at 200)."""
        kept: list[str] = []
        used = 0
        for line in reversed(self._tail):
            line = line[:200]
            if used + len(line) + 1 > budget:
                break
            kept.append(line)
            used += len(line) + 1
        return "\n".join(reversed(kept))


class EngineLog:
    """Build output lines: to the caller's sink, a tail for error messages, cache hits counted."""

    def __init__(self, sink: LineSink | None) -> None:
        self._sink = sink
        self._tail: deque[str] = deque(maxlen=ENGINE_TAIL)
        self.cached_steps = 0

    def line(self, text: str) -> None:
        text = text.rstrip()
        if not text.strip():
            return
        self._tail.append(text)
        if text.strip() == USING_CACHE:
            self.cached_steps += 1
        if self._sink is not None:
            self._sink(text)

    def tail(self) -> tuple[str, ...]:
        return tuple(self._tail)

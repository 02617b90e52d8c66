"""A worker's heartbeat: a small file its consumer loop rewrites every BEAT_SECONDS, and the
health probe that reads the file's age.

The file holds what the worker is doing: `consuming` (written by a timer of Celery's own
event loop, so it stops when that loop hangs), `waiting for Redis` (reconnecting: Redis is
away, the worker waits for it and must not be restarted), `stopping` (a warm shutdown
finishing its tasks) or `starting`. The probe passes while the file is younger than
`max_age`; `--ready` also asks for `consuming`.

Standard library only, so that `python -m services.common.heartbeat STAGE` (the Kubernetes
exec probe) starts in a few tens of milliseconds and a dozen MiB, where `shipline probe`
(the same check) first imports the whole command line: about a second and 60 MiB, every
probe period, in every worker pod.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

BEAT_SECONDS = 2.0
MAX_AGE_SECONDS = 30.0
DIRECTORY_VARIABLE = "SHIPLINE_HEARTBEAT_DIR"  # default: <tmp>/shipline-heartbeat

STARTING = "starting"
CONSUMING = "consuming"
WAITING_FOR_REDIS = "waiting for Redis"
STOPPING = "stopping"


def heartbeat_directory() -> Path:
    configured = os.environ.get(DIRECTORY_VARIABLE)
    return Path(configured) if configured else Path(tempfile.gettempdir()) / "shipline-heartbeat"


class Heartbeat:
    """The heartbeat file of one stage's worker."""

    def __init__(self, stage: str, directory: Path | None = None) -> None:
        self.path = (directory or heartbeat_directory()) / stage

    def beat(self, state: str) -> None:
        """Rewrite the file (a rename: a reader never sees it half written)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        partial.write_text(f"{state}\n")
        os.replace(partial, self.path)


@dataclass(frozen=True)
class Reading:
    stage: str
    state: str
    age: float


def read(path: Path) -> Reading | None:
    try:
        modified = path.stat().st_mtime
        state = path.read_text().strip()
    except FileNotFoundError:
        return None
    return Reading(path.name, state, max(0.0, time.time() - modified))


def check(
    stages: list[str], max_age: float = MAX_AGE_SECONDS, ready: bool = False
) -> tuple[bool, list[str]]:
    """Whether every named stage's worker beats (and consumes, if `ready`), with one line
    per stage; no stage named: every heartbeat file in the directory, at least one."""
    directory = heartbeat_directory()
    if not stages:
        stages = sorted(p.name for p in directory.glob("[!.]*")) if directory.is_dir() else []
        if not stages:
            return False, [f"unhealthy: no worker heartbeat in {directory}"]
    healthy, lines = True, []
    for stage in stages:
        reading = read(directory / stage)
        if reading is None:
            healthy = False
            lines.append(f"unhealthy: {stage}: no heartbeat yet ({directory / stage})")
        elif reading.age > max_age:
            healthy = False
            lines.append(
                f"unhealthy: {stage}: no heartbeat for {reading.age:.0f}s ({reading.state} "
                "before that): the worker's consumer loop is stuck"
            )
        elif ready and reading.state != CONSUMING:
            healthy = False
            lines.append(f"not ready: {stage}: {reading.state}")
        else:
            lines.append(f"ok: {stage}: {reading.state} ({reading.age:.0f}s ago)")
    return healthy, lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m services.common.heartbeat",
        description="Exit 0 while the worker's heartbeat is fresh (`shipline probe`, cheaper).",
    )
    parser.add_argument("stages", nargs="*", metavar="STAGE")
    parser.add_argument("--max-age", type=float, default=MAX_AGE_SECONDS)
    parser.add_argument("--ready", action="store_true", help="also require consuming")
    arguments = parser.parse_args(argv)
    healthy, lines = check(arguments.stages, arguments.max_age, arguments.ready)
    print("\n".join(lines), file=sys.stdout if healthy else sys.stderr)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())

"""The docker CLI the by-hand baselines run, building with BuildKit like Shipline does.

Since 23.0 the docker CLI builds with BuildKit only through the buildx plugin, and refuses
`DOCKER_BUILDKIT=1` without it; Debian's own CLI (package docker.io, 20.10) has BuildKit
built in. So: the first CLI that has buildx, or that is older than 23 (BuildKit built in).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable

DEBIAN_CLI = "/usr/bin/docker"


class NoBuildKitCli(RuntimeError):
    """No docker CLI here can build with BuildKit."""


def buildkit_cli(candidates: Iterable[str] | None = None) -> str:
    """The path of a docker CLI that builds with BuildKit under `DOCKER_BUILDKIT=1`."""
    found = [path for path in (candidates or _candidates()) if path and os.access(path, os.X_OK)]
    for path in dict.fromkeys(found):
        if _has_buildx(path) or _major(path) < 23:
            return path
    raise NoBuildKitCli(
        "no docker CLI that builds with BuildKit: install Debian's (apt-get install docker.io, "
        f"20.10 has BuildKit built in) or the buildx plugin; tried {', '.join(found) or 'none'}"
    )


def _candidates() -> list[str]:
    return [os.environ.get("SHIPLINE_BENCH_DOCKER", ""), shutil.which("docker") or "", DEBIAN_CLI]


def _has_buildx(path: str) -> bool:
    result = subprocess.run([path, "buildx", "version"], capture_output=True, check=False)
    return result.returncode == 0


def _major(path: str) -> int:
    result = subprocess.run(
        [path, "version", "--format", "{{.Client.Version}}"],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        return int(result.stdout.strip().split(".", 1)[0])
    except ValueError:
        return 10**6  # unknown: never assumed to have BuildKit built in

"""The machine and the versions a run measured, for docs/benchmarks.md."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime
from importlib.metadata import version

import psutil

from services.devenv.redis_server import find_redis_server

PACKAGES = ("celery", "redis", "fastapi", "uvicorn", "docker", "pydantic")
TOOLS = {
    "git": ["git", "--version"],
    "docker-registry": ["docker-registry", "--version"],
    "dockerd": ["dockerd", "--version"],
}


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def tool_version(argv: list[str]) -> str:
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "not found"
    return (
        (result.stdout or result.stderr).strip().splitlines()[0][:80]
        if result.returncode == 0
        else "?"
    )


def describe(trivy: str | None = None) -> dict[str, str]:
    load = " / ".join(f"{value:.2f}" for value in os.getloadavg())
    facts = {
        "date": f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "CPUs": f"{os.cpu_count()} × {cpu_model()}",
        "RAM": f"{psutil.virtual_memory().total / 2**30:.1f} GiB",
        "kernel": f"{platform.system()} {platform.release()}",
        "load average at start (1/5/15 min)": load,
        "Python": platform.python_version(),
        "packages": ", ".join(f"{name} {version(name)}" for name in PACKAGES),
    }
    tools = {**TOOLS, "redis server": [str(find_redis_server()), "--version"]}  # the one run
    if trivy:
        tools["trivy"] = [trivy, "--version"]
    facts["tools"] = "; ".join(f"{name}: {tool_version(argv)}" for name, argv in tools.items())
    return facts

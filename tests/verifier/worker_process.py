"""`shipline worker verifier` as a real process on the real Redis, configured with the given
clusters, and a Runtime on the same settings to create runs and publish commits to it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.common.runtime import Runtime
from services.common.settings import load_settings


def eventually(check: Callable[[], bool], what: str, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(
                f"{what} within {timeout}s; log:\n{log.read_text(errors='replace')[-3000:]}"
            )
        time.sleep(0.2)


@contextmanager
def verifier_worker(
    tmp_path: Path,
    redis_url: str,
    clusters: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[Runtime, Path]]:
    """The running worker's Runtime and log; the worker is stopped (SIGTERM) on leaving."""
    config = tmp_path / "server.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "redis_url": redis_url,
                "workdir": str(tmp_path / "work"),
                "clusters": clusters,
                "log_format": "json",
            }
        )
    )
    log = tmp_path / "verifier.log"
    env = {**os.environ, "SHIPLINE_CONFIG": str(config)}
    with log.open("wb") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "worker", "verifier"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        monkeypatch.setenv("SHIPLINE_CONFIG", str(config))
        runtime = Runtime(load_settings())
        try:
            yield runtime, log
        finally:
            runtime.redis.close()
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def until_succeeded(runtime: Runtime, run_id: str, log: Path) -> None:
    def finished() -> bool:
        run = runtime.runs.get(run_id)
        return run is not None and run.status == "succeeded"

    eventually(finished, "the run did not succeed", log)

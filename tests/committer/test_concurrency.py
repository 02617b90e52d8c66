"""20 services committing at once through several `shipline worker committer` processes.

Real processes consuming the real committer queue on a real Redis, one shared gitops
branch: every update lands, one commit per service (no coalescing), in a linear history.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import yaml

from services.common.runtime import Runtime
from services.common.settings import Settings
from tests.committer.gitrepos import REGISTRY, Repo, monorepo, scan_passed, scanned

SERVICES = [f"svc-{index:02d}" for index in range(20)]
WORKERS = 4


@pytest.fixture
def workers(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis
) -> Iterator[tuple[Repo, Settings]]:
    repo = monorepo(tmp_path / "remotes", SERVICES)
    config = tmp_path / "server.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "redis_url": redis_url,
                "workdir": str(tmp_path / "shared-workdir"),
                "log_format": "json",
                "repositories": [{"name": repo.name, "url": repo.url, "webhook_secret": "x" * 20}],
            }
        )
    )
    env = {**os.environ, "SHIPLINE_CONFIG": str(config)}
    processes = []
    for index in range(WORKERS):
        log = (tmp_path / f"committer-{index}.log").open("wb")
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "services.cli", "worker", "committer", "--concurrency", "3"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        log.close()
    try:
        yield repo, Settings(_env_file=None, **yaml.safe_load(config.read_text()))  # type: ignore[call-arg]
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def test_twenty_services_through_four_committer_processes_land_twenty_linear_commits(
    workers: tuple[Repo, Settings], tmp_path: Path
) -> None:
    repo, settings = workers
    runtime = Runtime(settings)
    commit = repo.log()[0].hexsha
    before = len(repo.log())
    for service in SERVICES:
        run_id = f"run-{service}"
        runtime.runs.create(run_id, trigger="push", repository=repo.name, commit=commit)
        runtime.runs.plan(run_id, [service])
    for service in SERVICES:  # published back to back: the workers race for the branch
        scan = scan_passed(repo, service, commit, f"run-{service}", tag=f"{service}-1")
        runtime.bus.publish(scanned(runtime.redis, scan))

    deadline = time.monotonic() + 240
    runs: dict[str, dict[str, object]] = {}
    while time.monotonic() < deadline:
        runs = {
            s: recorded.model_dump() if (recorded := runtime.runs.get(f"run-{s}")) else {}
            for s in SERVICES
        }
        if all(run.get("status") in ("succeeded", "failed") for run in runs.values()):
            break
        time.sleep(0.5)
    logs = "\n".join(
        p.read_text(errors="replace")[-1500:] for p in tmp_path.glob("committer-*.log")
    )
    assert {s: r.get("status") for s, r in runs.items()} == dict.fromkeys(SERVICES, "succeeded"), (
        logs
    )

    log = repo.log()
    assert len(log) == before + len(SERVICES), "one commit per service"
    assert all(len(c.parents) <= 1 for c in log), "history is not linear"
    subjects = sorted(c.message.splitlines()[0] for c in log[: len(SERVICES)])
    assert subjects == sorted(
        f"chore({s}): deploy {REGISTRY}/{s}:{s}-1 [skip ci]" for s in SERVICES
    )
    for service in SERVICES:
        assert f"image: {REGISTRY}/{service}:{service}-1   #" in repo.read(f"k8s/{service}.yaml")
    committed_by = {
        run["services"][s]["gitops_commit"]
        for s, run in runs.items()  # type: ignore[index]
    }
    assert committed_by == {c.hexsha for c in log[: len(SERVICES)]}

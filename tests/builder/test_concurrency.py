"""Builds of one push in parallel, in real `shipline worker builder` processes: the worker's
concurrency and more worker processes both add capacity, and the setting caps a worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from services.common.runtime import Runtime
from services.common.settings import Settings
from services.devenv.registry import Registry
from tests.builder.conftest import REPOSITORY, Monorepo, change_for

SLEEP_SECONDS = 2


class Workers:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self._env, self._log = env, log
        self._processes: list[subprocess.Popen[bytes]] = []

    def start(self, *args: str) -> None:
        with self._log.open("ab") as log:
            self._processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "services.cli", "worker", "builder", *args],
                    env=self._env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )

    def stop(self) -> None:
        for process in self._processes:
            os.killpg(process.pid, signal.SIGTERM)
        for process in self._processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def log_tail(self) -> str:
        return self._log.read_text(errors="replace")[-3000:]


@pytest.fixture
def runtime(settings: Settings, redis_client: redis.Redis) -> Iterator[Runtime]:
    runtime = Runtime(settings)
    yield runtime
    runtime.celery.close()
    runtime.redis.close()


@pytest.fixture
def workers_with(
    tmp_path: Path, settings: Settings, docker_host: str, base_image: str
) -> Iterator[Callable[[int], Workers]]:
    """Builder workers whose server config sets `concurrency: {builder: N}`."""
    started: list[Workers] = []

    def configure(concurrency: int) -> Workers:
        data: dict[str, Any] = settings.model_dump(mode="json", exclude={"repositories"})
        data["repositories"] = [
            {**repo.model_dump(mode="json"), "webhook_secret": "x" * 20}
            for repo in settings.repositories
        ]
        data.update(concurrency={"builder": concurrency}, log_format="json")
        config = tmp_path / "server.yaml"
        config.write_text(yaml.safe_dump(data))
        env = {**os.environ, "SHIPLINE_CONFIG": str(config), "DOCKER_HOST": docker_host}
        started.append(Workers(env, tmp_path / "workers.log"))
        return started[-1]

    yield configure
    for workers in started:
        workers.stop()


def push_of(
    runtime: Runtime, monorepo: Monorepo, registry: Registry, base_image: str, count: int
) -> tuple[str, list[str]]:
    """One commit changing `count` services whose builds each wait SLEEP_SECONDS, published."""
    services = [f"svc-{index}" for index in range(count)]
    marker = uuid.uuid4().hex
    files = {
        f"{service}/Dockerfile": (
            f"FROM {base_image}\nRUN echo {marker}-{service} && sleep {SLEEP_SECONDS}\n"
        )
        for service in services
    }
    commit = monorepo.commit(files)
    run_id = f"run-{marker[:8]}"
    runtime.runs.create(run_id, trigger="push", repository=REPOSITORY, commit=commit)
    runtime.runs.plan(run_id, services)
    for service in services:
        image = monorepo.image_repository(registry, service)
        runtime.bus.publish(change_for(image, service, commit, run_id=run_id))
    return run_id, services


def build_intervals(
    runtime: Runtime, run_id: str, services: list[str], workers: Workers
) -> list[tuple[float, float]]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        run = recorded.model_dump() if (recorded := runtime.runs.get(run_id)) else {}
        records = run.get("services", {})
        if all(records.get(s, {}).get("digest") for s in services):
            timings = [records[s]["timings"]["builder"] for s in services]
            return sorted((t["started"], t["finished"]) for t in timings)
        failed = [s for s, r in records.items() if r.get("status") == "failed"]
        assert not failed, f"{failed} failed: {records}\n{workers.log_tail()}"
        time.sleep(0.2)
    raise AssertionError(f"builds did not finish: {runtime.runs.get(run_id)}\n{workers.log_tail()}")


def all_overlap(intervals: list[tuple[float, float]]) -> bool:
    return max(start for start, _ in intervals) < min(end for _, end in intervals)


def test_one_worker_builds_the_services_of_a_push_in_parallel_up_to_its_concurrency(
    runtime: Runtime,
    workers_with: Callable[[int], Workers],
    monorepo: Monorepo,
    registry: Registry,
    base_image: str,
) -> None:
    workers = workers_with(3)
    workers.start()
    run_id, services = push_of(runtime, monorepo, registry, base_image, 3)

    intervals = build_intervals(runtime, run_id, services, workers)

    assert all_overlap(intervals), intervals


def test_more_worker_processes_add_build_capacity(
    runtime: Runtime,
    workers_with: Callable[[int], Workers],
    monorepo: Monorepo,
    registry: Registry,
    base_image: str,
) -> None:
    workers = workers_with(1)
    workers.start()
    workers.start("--concurrency", "1")
    run_id, services = push_of(runtime, monorepo, registry, base_image, 2)

    intervals = build_intervals(runtime, run_id, services, workers)

    assert all_overlap(intervals), intervals


def test_a_worker_never_runs_more_builds_at_once_than_its_concurrency_setting(
    runtime: Runtime,
    workers_with: Callable[[int], Workers],
    monorepo: Monorepo,
    registry: Registry,
    base_image: str,
) -> None:
    workers = workers_with(1)
    workers.start()
    run_id, services = push_of(runtime, monorepo, registry, base_image, 2)

    (_, first_end), (second_start, _) = build_intervals(runtime, run_id, services, workers)

    assert second_start >= first_end - 0.05

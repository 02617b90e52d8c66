"""Real `shipline worker` processes for tests, on a sample monorepo where a test wants one,
and the waiting that goes with them."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.common.events import PushReceived
from services.common.runtime import Runtime
from services.common.settings import Settings, load_settings
from services.demo.receiver import NotificationReceiver
from services.demo.scenario import Push, SampleMonorepo, write_server_config
from services.devenv.registry import Registry
from tests.deploy_outcomes import REGISTRY_NAMESPACE, manifest_of

PIPELINE = ("detector", "builder", "scanner", "committer", "notifier")  # no cluster: no verifier


class Workers:
    """One `shipline worker <stage>` process per stage, each in its own process group."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self._env = env
        self._log = log
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, stage: str) -> None:
        with self._log.open("ab") as log:
            self.processes[stage] = subprocess.Popen(
                [sys.executable, "-m", "services.cli", "worker", stage],
                env=self._env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self, stage: str) -> None:
        process = self.processes.pop(stage)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def stop_all(self) -> None:
        for process in self.processes.values():
            os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def settings_from(config: Path) -> Settings:
    """The settings a worker started with SHIPLINE_CONFIG=config reads."""
    previous = os.environ.get("SHIPLINE_CONFIG")
    os.environ["SHIPLINE_CONFIG"] = str(config)
    try:
        return load_settings()
    finally:
        if previous is None:
            del os.environ["SHIPLINE_CONFIG"]
        else:
            os.environ["SHIPLINE_CONFIG"] = previous


@contextlib.contextmanager
def running_stages(
    config: Path, docker_host: str, log: Path, stages: Sequence[str] = PIPELINE
) -> Iterator[tuple[Workers, Runtime]]:
    """A worker per stage on `config`, and the runtime the test publishes and reads with."""
    env = {**os.environ, "SHIPLINE_CONFIG": str(config), "DOCKER_HOST": docker_host}
    workers = Workers(env, log)
    runtime = Runtime(settings_from(config))
    try:
        for stage in stages:
            workers.start(stage)
        yield workers, runtime
    finally:
        workers.stop_all()
        runtime.celery.close()
        runtime.redis.close()


@dataclass
class StagesOnSample:
    sample: SampleMonorepo
    workers: Workers
    runtime: Runtime
    receiver: NotificationReceiver
    registry: Registry
    log: Path

    def start_run(self, run_id: str, push: Push) -> None:
        """A run of `push` to main, started as the gateway would: recorded, then its
        PushReceived published."""
        runs, sample = self.runtime.runs, self.sample
        runs.create(run_id, trigger="push", repository=sample.name, commit=push.after)
        self.runtime.bus.publish(
            PushReceived(
                run_id=run_id,
                provider="manual",
                delivery_id=run_id,
                repository=sample.name,
                ref="refs/heads/main",
                before=push.before,
                after=push.after,
            )
        )

    def notified(self, run_id: str) -> bool:
        return getattr(self.runtime.runs.get(run_id), "notified_at", None) is not None

    def assert_deployed_once(self, run_id: str, push: Push, service: str, head_before: str) -> str:
        """`run_id` succeeded, the registry holds the image it built of `push`, and exactly
        one deploy commit on top of `head_before` runs that image; that commit."""
        run = self.runtime.runs.get(run_id)
        assert run is not None and run.status == "succeeded", run
        tag = f"sha-{push.after[:7]}"
        pushed = self.registry.manifest_digest(f"{REGISTRY_NAMESPACE}/{service}", tag)
        assert pushed == run.services[service].digest, (pushed, run)
        head = self.sample.remote_head()
        assert head.parents == (head_before,), f"not one deploy commit on the push: {head}"
        manifest = manifest_of(self.sample, service)
        assert tag in manifest, manifest
        return head.hexsha


@contextlib.contextmanager
def stages_on_sample(
    root: Path,
    redis_url: str,
    docker_host: str,
    registry: Registry,
    base_image: str,
    trivy_path: Path,
    *,
    visibility_timeout: int,
    stages: Sequence[str] = PIPELINE,
    webhook_secret: str = "x" * 20,
    **settings: Any,
) -> Iterator[StagesOnSample]:
    """A fresh sample monorepo under `root`, a notification receiver, and a worker per
    stage whose killed worker's task comes back after `visibility_timeout` seconds (retries
    wait at most half of it), plus `settings` (reconciler, concurrency, api_tokens…)."""
    sample = SampleMonorepo(root)
    sample.create(f"{registry.host}/microbank", base_image)
    with NotificationReceiver() as receiver:
        config = write_server_config(
            root / "server.yaml",
            sample,
            webhook_secret,
            receiver.url,
            redis_url=redis_url,
            scanner={"trivy_path": str(trivy_path)},
            visibility_timeout=visibility_timeout,
            allow_short_visibility_timeout=True,
            retry={"max_delay_seconds": visibility_timeout // 2},
            **settings,
        )
        log = root / "workers.log"
        with running_stages(config, docker_host, log, stages) as (workers, runtime):
            yield StagesOnSample(sample, workers, runtime, receiver, registry, log)


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")

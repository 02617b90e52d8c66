"""A running Shipline (`shipline up` as a real process) on the session's real components.

Shared by the end-to-end tests and the security suite (their conftests re-export `stack`)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from services.demo.receiver import NotificationReceiver
from services.demo.scenario import (
    NotReady,
    Push,
    SampleMonorepo,
    send_github_push,
    wait_ready,
    write_server_config,
)
from services.devenv.registry import Registry

WEBHOOK_SECRET = "e2e-webhook-secret-0123456789"
API_TOKEN = "e2e-api-token-0123456789abcdef"
FINAL = ("succeeded", "failed", "blocked", "skipped", "superseded", "held", "rejected")


@dataclass
class Stack:
    api: str
    sample: SampleMonorepo
    registry: Registry
    receiver: NotificationReceiver
    redis: redis.Redis
    log_path: Path

    def push_webhook(self, push: Push, delivery: str | None = None) -> httpx.Response:
        return send_github_push(
            self.api, WEBHOOK_SECRET, self.sample.github_payload(push), delivery
        )

    def run_of(self, push: Push, delivery: str | None = None) -> dict[str, Any]:
        """The run `push`'s webhook started, once finished."""
        response = self.push_webhook(push, delivery)
        assert response.status_code == 202, response.text
        return self.wait_for_run(response.json()["run_id"])

    def deploy(self, push: Push, delivery: str | None = None) -> dict[str, Any]:
        """The run `push`'s webhook started, once finished; it must have succeeded."""
        run = self.run_of(push, delivery)
        assert run["status"] == "succeeded", run
        return run

    def run_while_registry_is_down(self, push: Push) -> dict[str, Any]:
        """The run of `push`, made with the registry stopped (started again after): for a
        stack with a registry of its own (`stack_with_own_registry`)."""
        self.registry.stop()
        try:
            return self.run_of(push)
        finally:
            self.registry.restart()

    def lose_a_build_to_a_registry_outage(self) -> tuple[Push, dict[str, Any]]:
        """user-service deployed, then a change to it ("During the outage." appended to its
        app.txt) pushed while the registry is down: that push, and its run, in which
        user-service gave up after its retry budget."""
        self.deploy(self.sample.append("user_service/app.txt", "Before.", "feat(user): before"))
        lost = self.sample.append(
            "user_service/app.txt", "During the outage.", "feat(user): outage"
        )
        run = self.run_while_registry_is_down(lost)
        assert run["services"]["user-service"]["status"] == "failed", run
        assert "gave up after" in run["services"]["user-service"]["reason"], run
        return lost, run

    @property
    def auth(self) -> dict[str, str]:
        """The headers of a caller with the stack's API token (reads need one)."""
        return {"Authorization": f"Bearer {API_TOKEN}"}

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        """GET `path` of the API as a caller with the stack's token."""
        kwargs.setdefault("timeout", 10)
        return httpx.get(f"{self.api}{path}", headers=self.auth, **kwargs)

    def wait_for_run(self, run_id: str, timeout: float = 240) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        run: dict[str, Any] = {}
        while time.monotonic() < deadline:
            run = self.get(f"/api/v1/runs/{run_id}", timeout=5).json()
            if run.get("status") in FINAL and run.get("notified_at"):
                return run
            time.sleep(0.3)
        log_tail = self.log_path.read_text(errors="replace")[-4000:]
        raise AssertionError(
            f"run {run_id} did not finish: {run}\n--- shipline log ---\n{log_tail}"
        )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ShiplineUp:
    api: str
    process: subprocess.Popen[bytes]


@contextlib.contextmanager
def shipline_up(config: Path, docker_host: str, log_path: Path) -> Iterator[ShiplineUp]:
    """`shipline up` on ``config`` as a real process, ready; stopped (SIGTERM) on exit.
    SHIPLINE_* variables of the caller are not passed on: the config file says it all."""
    port = _free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("SHIPLINE_")}
    env |= {"SHIPLINE_CONFIG": str(config), "DOCKER_HOST": docker_host}
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "up", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    api = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_ready(api, server)
        except NotReady as exc:
            pytest.fail(f"{exc}: {log_path.read_text(errors='replace')[-3000:]}")
        yield ShiplineUp(api, server)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@contextlib.contextmanager
def stack_up(
    root: Path,
    sample: SampleMonorepo,
    registry: Registry,
    receiver: NotificationReceiver,
    client: redis.Redis,
    docker_host: str,
    trivy_path: Path,
    **settings: Any,
) -> Iterator[Stack]:
    """`shipline up` on the sample with the suite's webhook secret, Trivy and reader token,
    plus `settings` (redis_url, retry, concurrency…)."""
    config = write_server_config(
        root / "server.yaml",
        sample,
        WEBHOOK_SECRET,
        receiver.url,
        scanner={"trivy_path": str(trivy_path)},
        api_tokens=[API_TOKEN],
        **settings,
    )
    log_path = root / "shipline.log"
    with shipline_up(config, docker_host, log_path) as up:
        yield Stack(up.api, sample, registry, receiver, client, log_path)


@contextlib.contextmanager
def fresh_stack(
    root: Path,
    redis_url: str,
    docker_host: str,
    registry: Registry,
    base_image: str,
    trivy_path: Path,
    settings_of: Callable[[SampleMonorepo], dict[str, Any]] = lambda sample: {},
) -> Iterator[Stack]:
    """`shipline up` on a fresh sample in `root`, Redis emptied first, with the settings
    `settings_of(sample)` gives (a repository entry names the sample, so they may need it)."""
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    sample = SampleMonorepo(root)
    sample.create(f"{registry.host}/microbank", base_image)
    with NotificationReceiver() as receiver:
        try:
            with stack_up(
                root, sample, registry, receiver, client, docker_host, trivy_path,
                redis_url=redis_url, **settings_of(sample),
            ) as stack:  # fmt: skip
                yield stack
        finally:
            client.close()


@contextlib.contextmanager
def stack_with_own_registry(
    root: Path,
    redis_url: str,
    docker_host: str,
    base_image: str,
    trivy_path: Path,
    budget_seconds: float,
    **settings: Any,
) -> Iterator[Stack]:
    """`shipline up` on a fresh sample with a registry of its own, which the test may stop
    and start, and a short retry budget (`budget_seconds`), plus `settings`."""
    retry = {"budget_seconds": budget_seconds, "initial_delay_seconds": 0.5, "max_delay_seconds": 2}
    with (
        Registry(root / "registry") as registry,
        fresh_stack(
            root,
            redis_url,
            docker_host,
            registry,
            base_image,
            trivy_path,
            lambda sample: {"retry": retry, **settings},
        ) as stack,
    ):
        yield stack


def own_registry_stack(budget_seconds: float, **settings: Any) -> Any:
    """A module-scoped fixture of `stack_with_own_registry(budget_seconds, **settings)`;
    a module names it by the variable it assigns it to (`outage_stack = own_registry_stack(6)`)."""

    @pytest.fixture(scope="module")
    def fixture(
        tmp_path_factory: pytest.TempPathFactory,
        redis_url: str,
        docker_host: str,
        base_image: str,
        trivy_path: Path,
    ) -> Iterator[Stack]:
        root = tmp_path_factory.mktemp("own-registry")
        with stack_with_own_registry(
            root, redis_url, docker_host, base_image, trivy_path, budget_seconds, **settings
        ) as stack:
            yield stack

    return fixture


def sample_stack(
    name: str, settings_of: Callable[[SampleMonorepo], dict[str, Any]] = lambda sample: {}
) -> Any:
    """A module-scoped fixture of `fresh_stack(..., settings_of)` in a temporary directory
    named `name`; a module names it by the variable it assigns it to
    (`auto_stack = sample_stack("auto-promotion", ...)`)."""

    @pytest.fixture(scope="module")
    def fixture(
        tmp_path_factory: pytest.TempPathFactory,
        redis_url: str,
        docker_host: str,
        registry: Registry,
        base_image: str,
        trivy_path: Path,
    ) -> Iterator[Stack]:
        root = tmp_path_factory.mktemp(name)
        with fresh_stack(
            root, redis_url, docker_host, registry, base_image, trivy_path, settings_of
        ) as stack:
            yield stack

    return fixture


stack = sample_stack("e2e")

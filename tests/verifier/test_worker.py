"""`shipline worker verifier` as a real process: Celery's threads pool on the real Redis, the
real `kubernetes` client against the stand-in API server (tests/verifier/fake_apiserver.py;
no Kubernetes API server can run here). It watches from start-up (the live state appears
before any event) and turns a published commit into the run's verdict."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
import yaml
from click.testing import CliRunner

from services.cli import main
from services.cli.views import services_table
from services.common.cluster_settings import ClusterSettings
from services.common.events import ManifestCommitted, Source
from services.common.runtime import Runtime
from services.common.service_table import LiveState, ServicesTable, ServiceState
from services.common.settings import load_settings
from services.common.worker import load_definition
from services.verifier.live import LiveStore
from services.verifier.task import STAGE
from tests.verifier.fake_apiserver import FakeApiServer
from tests.verifier.objects import application, deployment

REPO = "127.0.0.1:5000/bank/cart"
NEW = f"{REPO}:sha-bbbbbbb"
COMMIT = "c" * 40


def eventually(check: Callable[[], bool], what: str, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(
                f"{what} within {timeout}s; log:\n{log.read_text(errors='replace')[-3000:]}"
            )
        time.sleep(0.2)


def test_the_verifier_is_a_worker_stage_of_the_cli() -> None:
    answer = CliRunner().invoke(main, ["worker", "--help"])

    assert "verifier" in answer.output
    assert load_definition("verifier") is STAGE


def test_a_verifier_worker_watches_from_start_up_and_verifies_a_published_commit(
    tmp_path: Path,
    redis_url: str,
    redis_client: redis.Redis,
    apiserver: FakeApiServer,
    cluster: ClusterSettings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    apiserver.put("deployments", deployment("cart", NEW))
    apiserver.put("applications", application("shop", ["cart"], revision=COMMIT))
    config = tmp_path / "server.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "redis_url": redis_url,
                "workdir": str(tmp_path / "work"),
                "clusters": [cluster.model_dump(mode="json")],
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
        store = LiveStore(redis_client)
        eventually(lambda: REPO in store.read("prod"), "no live state", log)
        monkeypatch.setenv("SHIPLINE_CONFIG", str(config))
        runtime = Runtime(load_settings())
        runtime.runs.create("run-w", trigger="push", repository="acme/shop", commit="a" * 40)
        runtime.runs.plan("run-w", ["cart"])
        runtime.bus.publish(
            ManifestCommitted(
                run_id="run-w",
                service="cart",
                source=Source(repository="acme/shop", commit="a" * 40, ref="refs/heads/main"),
                manifest_path="k8s/cart.yaml",
                old_image=f"{REPO}:sha-aaaaaaa",
                new_image=NEW,
                gitops_repository="acme/shop",
                gitops_commit=COMMIT,
                branch="main",
                cluster="prod",
            )
        )

        def finished() -> bool:
            run = runtime.runs.get("run-w")
            return run is not None and run.status == "succeeded"

        eventually(finished, "the run did not succeed", log)
        service = runtime.runs.get("run-w").services["cart"]
        assert service.workload == "Deployment shop/cart"
        runtime.redis.close()
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def test_the_status_table_shows_the_cluster_column_only_with_a_cluster() -> None:
    row = ServiceState(
        repository="acme/shop",
        service="cart",
        image=NEW,
        manifest="k8s/cart.yaml",
        gitops_repository="acme/shop",
        gitops_commit=COMMIT,
        cluster=None,
        surveyed_at=0,
        pinned=False,
        pin=None,
        live=None,
        last_run=None,
    )
    live = LiveState(
        image=NEW, sync="Synced", health="Healthy", ready_replicas=2, replicas=2, matches_git=True
    )
    clustered = row.model_copy(update={"cluster": "prod", "live": live})

    answer = ServicesTable(services=[clustered], errors=[])
    assert "prod: Synced/Healthy 2/2 ready" in services_table(answer, 0)
    assert "CLUSTER" not in services_table(ServicesTable(services=[row], errors=[]), 0)

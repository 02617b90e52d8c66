"""`shipline worker verifier` as a real process with `clusters[].argocd_refresh`: the real
`kubernetes` client against the stand-in API server (tests/verifier/fake_apiserver.py; no
Kubernetes API server can run here), a simulated Argo CD controller that syncs only when
refreshed (its poll is an hour away), and the run store on the real Redis."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import redis
import yaml

from services.common.cluster_settings import ClusterSettings
from services.common.events import ManifestCommitted, Source
from services.common.runtime import Runtime
from services.common.settings import load_settings
from tests.verifier.argo_controller import SimulatedArgoCD
from tests.verifier.fake_apiserver import FakeApiServer
from tests.verifier.objects import application, deployment
from tests.verifier.test_worker import eventually

REPO = "127.0.0.1:5000/bank/cart"
OLD, NEW = f"{REPO}:sha-aaaaaaa", f"{REPO}:sha-bbbbbbb"
COMMIT = "c" * 40


def test_a_verifier_worker_refreshes_the_application_and_the_run_succeeds_before_any_poll(
    tmp_path: Path,
    redis_url: str,
    redis_client: redis.Redis,
    apiserver: FakeApiServer,
    cluster: ClusterSettings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    apiserver.put("deployments", deployment("cart", OLD, generation=1))
    apiserver.put("applications", application("shop", ["cart"]))  # no revision synced yet
    argocd = SimulatedArgoCD(apiserver, "shop", "cart", poll_seconds=3600).start()
    settings = {
        **cluster.model_dump(mode="json"),
        "argocd_refresh": {"applications": ["shop"]},
    }
    config = tmp_path / "server.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "redis_url": redis_url,
                "workdir": str(tmp_path / "work"),
                "clusters": [settings],
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
        runtime.runs.create("run-a", trigger="push", repository="acme/shop", commit="a" * 40)
        runtime.runs.plan("run-a", ["cart"])
        argocd.commit(COMMIT, NEW)  # the committer's push
        runtime.bus.publish(
            ManifestCommitted(
                run_id="run-a",
                service="cart",
                source=Source(repository="acme/shop", commit="a" * 40, ref="refs/heads/main"),
                manifest_path="k8s/cart.yaml",
                old_image=OLD,
                new_image=NEW,
                gitops_repository="acme/shop",
                gitops_commit=COMMIT,
                branch="main",
                cluster="prod",
            )
        )

        def finished() -> bool:
            run = runtime.runs.get("run-a")
            return run is not None and run.status == "succeeded"

        eventually(finished, "the run did not succeed", log)
        service = runtime.runs.get("run-a").services["cart"]  # type: ignore[union-attr]
        assert service.argocd_refresh == "annotation argocd/shop"
        assert [sync.cause for sync in argocd.syncs] == ["refresh annotation"]
        runtime.redis.close()
    finally:
        argocd.stop()
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()

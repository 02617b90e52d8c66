"""`shipline worker verifier` as a real process with `clusters[].argocd_refresh`: the real
`kubernetes` client against the stand-in API server (tests/verifier/fake_apiserver.py; no
Kubernetes API server can run here), a simulated Argo CD controller that syncs only when
refreshed (its poll is an hour away), and the run store on the real Redis."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from services.common.cluster_settings import ClusterSettings
from tests.verifier.argo_controller import SimulatedArgoCD
from tests.verifier.commits import COMMIT, NEW, OLD, manifest_committed
from tests.verifier.fake_apiserver import FakeApiServer
from tests.verifier.objects import application, deployment
from tests.verifier.worker_process import until_succeeded, verifier_worker


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
    try:
        with verifier_worker(tmp_path, redis_url, [settings], monkeypatch) as (runtime, log):
            runtime.runs.create("run-a", trigger="push", repository="acme/shop", commit="a" * 40)
            runtime.runs.plan("run-a", ["cart"])
            argocd.commit(COMMIT, NEW)  # the committer's push
            runtime.bus.publish(manifest_committed("run-a"))

            until_succeeded(runtime, "run-a", log)
            service = runtime.runs.get("run-a").services["cart"]  # type: ignore[union-attr]
            assert service.argocd_refresh == "annotation argocd/shop"
            assert [sync.cause for sync in argocd.syncs] == ["refresh annotation"]
    finally:
        argocd.stop()

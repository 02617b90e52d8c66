"""`shipline worker verifier` as a real process: Celery's threads pool on the real Redis, the
real `kubernetes` client against the stand-in API server (tests/verifier/fake_apiserver.py;
no Kubernetes API server can run here). It watches from start-up (the live state appears
before any event) and turns a published commit into the run's verdict."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
from click.testing import CliRunner

from services.cli import main
from services.cli.views import services_table
from services.common.cluster_settings import ClusterSettings
from services.common.service_table import LiveState, ServicesTable, ServiceState
from services.common.worker import load_definition
from services.verifier.live import LiveStore
from services.verifier.task import STAGE
from tests.verifier.commits import COMMIT, NEW, REPO, manifest_committed
from tests.verifier.fake_apiserver import FakeApiServer
from tests.verifier.objects import application, deployment
from tests.verifier.worker_process import eventually, until_succeeded, verifier_worker


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
    clusters = [cluster.model_dump(mode="json")]
    with verifier_worker(tmp_path, redis_url, clusters, monkeypatch) as (runtime, log):
        store = LiveStore(redis_client)
        eventually(lambda: REPO in store.read("prod"), "no live state", log)
        runtime.runs.create("run-w", trigger="push", repository="acme/shop", commit="a" * 40)
        runtime.runs.plan("run-w", ["cart"])
        runtime.bus.publish(manifest_committed("run-w"))

        until_succeeded(runtime, "run-w", log)
        service = runtime.runs.get("run-w").services["cart"]
        assert service.workload == "Deployment shop/cart"


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

"""GET /api/v1/services with a cluster: each service's live state next to the image in git,
read from what the verifier's watches keep in Redis (never from the cluster itself)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import redis
from fastapi.testclient import TestClient

from services.committer.survey import resurvey
from services.common.cluster_settings import ClusterSettings
from services.common.service_inventory import InventoryStore
from services.gateway.app import create_app
from services.verifier.live import LiveStore
from services.verifier.rollout import Snapshot
from tests.committer.gitrepos import REGISTRY, monorepo, settings_for
from tests.verifier.objects import application, deployment


def listed(settings: Any, client: redis.Redis) -> dict[str, dict]:
    resurvey(settings, InventoryStore(client), "acme/shop")
    readable = settings.model_copy(update={"public_read": True})  # reads without a token
    with TestClient(create_app(readable)) as api:
        response = api.get("/api/v1/services")
    assert response.status_code == 200, response.text
    return {row["service"]: row for row in response.json()["services"]}


def test_each_service_shows_what_its_cluster_runs_next_to_the_image_in_git(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis
) -> None:
    shop = monorepo(tmp_path / "remotes", ["cart", "payments"])
    cluster = ClusterSettings(name="prod", kubeconfig=tmp_path / "kubeconfig", namespaces=["shop"])
    running = f"{REGISTRY}/cart:initial"
    LiveStore(redis_client).save(
        "prod",
        Snapshot(
            [deployment("cart", running, ready=1, available=1)],
            [],
            [application("shop", ["cart"], revision="c" * 40)],
        ),
    )

    rows = listed(
        settings_for(tmp_path / "api", shop, redis_url=redis_url, clusters=[cluster]), redis_client
    )

    live = rows["cart"]["live"]
    assert rows["cart"]["cluster"] == "prod"
    assert (live["image"], live["matches_git"]) == (running, True)
    assert (live["sync"], live["health"], live["revision"]) == ("Synced", "Healthy", "c" * 40)
    assert (live["ready_replicas"], live["replicas"], live["rolled_out"]) == (1, 2, False)
    assert live["workload"] == "Deployment shop/cart" and live["observed_at"] > 0
    assert rows["payments"]["cluster"] == "prod" and rows["payments"]["live"] is None
    assert "image_repository" not in rows["cart"]


def test_without_a_cluster_there_is_no_live_state(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis
) -> None:
    shop = monorepo(tmp_path / "remotes", ["cart"])

    rows = listed(settings_for(tmp_path / "api", shop, redis_url=redis_url), redis_client)

    assert (rows["cart"]["cluster"], rows["cart"]["live"]) == (None, None)

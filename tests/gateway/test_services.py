"""GET /api/v1/services: the deployed image from the manifests at the gitops head (as the
workers survey them into Redis), the last run and the pin of every service, on real git
repositories and a real Redis. The gateway itself reads only Redis."""

from __future__ import annotations

from pathlib import Path

import redis
from fastapi.testclient import TestClient

from services.committer.survey import resurvey
from services.common.pins import PinStore
from services.common.runs import RunStore
from services.common.service_inventory import InventoryStore, Survey
from services.common.settings import GitopsRepository
from services.detector.attempts import SentBuilds
from services.gateway.app import create_app
from services.reconciler.converge_state import ConvergeState, RetryState
from tests.committer.gitrepos import REGISTRY, Repo, deployment, monorepo, settings_for
from tests.gateway.runs_data import build_failed, deployed, started_run


def listed(settings, client: redis.Redis, survey: bool = True) -> dict:
    """The answer once the workers surveyed every repository (unless `survey` is False)."""
    if survey:
        store = InventoryStore(client)
        for repo in settings.repositories:
            resurvey(settings, store, repo.name)
    readable = settings.model_copy(update={"public_read": True})  # reads without a token
    with TestClient(create_app(readable)) as api:
        response = api.get("/api/v1/services")
    assert response.status_code == 200, response.text
    return response.json()


def by_name(answer: dict) -> dict[str, dict]:
    return {row["service"]: row for row in answer["services"]}


def test_every_service_shows_the_image_at_the_gitops_head_its_last_run_and_its_pin(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis
) -> None:
    shop = monorepo(tmp_path / "remotes", ["cart", "payments"])
    head = shop.commit({"k8s/cart.yaml": deployment("cart", f"{REGISTRY}/cart:sha-1234567")}, "x")
    runs = RunStore(redis_client)
    started_run(runs, "older", ["cart"])
    build_failed(runs, "older", "cart")
    started_run(runs, "newer", ["cart"])
    deployed(runs, "newer", "cart")
    PinStore(redis_client).pin("acme/shop", "payments", f"{REGISTRY}/payments:v1", "ops", "rb-1")

    answer = listed(settings_for(tmp_path / "api", shop, redis_url=redis_url), redis_client)

    rows = by_name(answer)
    assert answer["errors"] == []
    assert rows["cart"]["image"] == f"{REGISTRY}/cart:sha-1234567"
    assert (rows["cart"]["gitops_commit"], rows["cart"]["manifest"]) == (head, "k8s/cart.yaml")
    assert rows["cart"]["last_run"]["run_id"] == "newer"
    assert rows["cart"]["last_run"]["status"] == "succeeded"
    assert rows["cart"]["pinned"] is False
    assert rows["payments"]["image"] == f"{REGISTRY}/payments:initial"
    assert rows["payments"]["last_run"] is None
    assert rows["payments"]["pinned"] is True
    assert rows["payments"]["pin"]["image"] == f"{REGISTRY}/payments:v1"


def test_manifests_in_a_separate_gitops_repository_are_read_from_its_branch(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis
) -> None:
    gitops = Repo(tmp_path / "remotes", "acme/gitops")
    gitops.commit({"k8s/cart.yaml": deployment("cart", f"{REGISTRY}/cart:from-gitops")}, "init")
    shop = monorepo(
        tmp_path / "remotes", ["cart"], gitops={"repository": "acme/gitops", "branch": "main"}
    )
    settings = settings_for(
        tmp_path / "api",
        shop,
        redis_url=redis_url,
        gitops_repositories=[GitopsRepository(name="acme/gitops", url=gitops.url)],
    )

    rows = by_name(listed(settings, redis_client))

    assert rows["cart"]["image"] == f"{REGISTRY}/cart:from-gitops"
    assert rows["cart"]["gitops_repository"] == "acme/gitops"


def test_a_missing_manifest_or_an_unreadable_repository_is_reported_not_fatal(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis
) -> None:
    shop = monorepo(tmp_path / "remotes", ["cart", "payments"])
    shop.clone.git.rm("k8s/payments.yaml")
    shop.commit({}, "drop the payments manifest")
    empty = Repo(tmp_path / "remotes", "acme/empty")
    empty.commit({"README.md": "nothing\n"}, "init")

    answer = listed(settings_for(tmp_path / "api", shop, empty, redis_url=redis_url), redis_client)

    rows = by_name(answer)
    assert rows["cart"]["image"] == f"{REGISTRY}/cart:initial"
    assert rows["payments"]["image"] is None
    assert "k8s/payments.yaml does not exist" in rows["payments"]["problem"]
    assert [(e["repository"], e["reason"]) for e in answer["errors"]] == [
        ("acme/empty", "no shipline.yaml on main")
    ]


def test_a_repository_not_surveyed_yet_is_reported_with_what_will_survey_it(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis
) -> None:
    shop = monorepo(tmp_path / "remotes", ["cart"])

    answer = listed(
        settings_for(tmp_path / "api", shop, redis_url=redis_url), redis_client, survey=False
    )

    assert answer["services"] == []
    assert answer["errors"][0]["repository"] == "acme/shop"
    assert "not surveyed yet" in answer["errors"][0]["reason"]


def test_a_failed_survey_keeps_the_services_found_before_and_says_why(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis
) -> None:
    shop = monorepo(tmp_path / "remotes", ["cart"])
    settings = settings_for(tmp_path / "api", shop, redis_url=redis_url)
    store = InventoryStore(redis_client)
    resurvey(settings, store, "acme/shop")
    shop.clone.git.rm("shipline.yaml")
    shop.commit({}, "drop shipline.yaml")

    answer = listed(settings, redis_client)

    assert by_name(answer)["cart"]["image"] == f"{REGISTRY}/cart:initial"
    assert answer["errors"][0]["reason"] == "no shipline.yaml on main"


def test_an_older_survey_never_replaces_a_newer_one(redis_client: redis.Redis) -> None:
    store = InventoryStore(redis_client)

    assert store.record(Survey(repository="acme/shop", commit="b" * 40, surveyed_at=200.0))
    assert not store.record(Survey(repository="acme/shop", commit="a" * 40, surveyed_at=100.0))

    recorded = store.read("acme/shop")
    assert recorded is not None and recorded.commit == "b" * 40


def test_a_service_behind_shows_its_drift_its_failed_last_build_and_its_next_retry(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis
) -> None:
    shop = monorepo(tmp_path / "remotes", ["cart", "payments"])
    base = shop.commit({"cart/app.txt": "cart 1\n"}, "feat(cart): one")
    trailers = "\n".join(f"Shipline-Deployed: {s} {shop.name}@{base}" for s in ("cart", "payments"))
    shop.commit({}, f"chore: deploy [skip ci]\n\n{trailers}\n")
    shop.commit({"cart/app.txt": "cart 2\n"}, "feat(cart): two")
    head = shop.commit({"cart/app.txt": "cart 3\n"}, "feat(cart): three")
    runs = RunStore(redis_client)
    started_run(runs, "run-2", ["cart"])
    build_failed(runs, "run-2", "cart")
    SentBuilds(redis_client).record(shop.name, "refs/heads/main", ["cart"], "run-2")
    ConvergeState(redis_client).put(shop.name, "cart", RetryState(run_id="run-2", retry_at=1e10))

    rows = by_name(listed(settings_for(tmp_path / "api", shop, redis_url=redis_url), redis_client))

    cart, payments = rows["cart"], rows["payments"]
    assert (cart["deployed_commit"], cart["desired_commit"], cart["behind_by"]) == (base, head, 2)
    assert cart["drift"] == {
        "state": "behind",
        "behind_by": 2,
        "since": base[:7],
        "last_attempt": {
            "run_id": "run-2",
            "status": "failed",
            "reason": "builder: PermanentError: docker build failed: exit 1",
        },
        "retry_at": 1e10,
    }
    assert payments["drift"]["state"] == "in_sync"
    assert (payments["desired_commit"], payments["behind_by"]) == (base, 0)


def test_a_service_no_deploy_names_has_an_unknown_drift(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis
) -> None:
    shop = monorepo(tmp_path / "remotes", ["cart"])

    rows = by_name(listed(settings_for(tmp_path / "api", shop, redis_url=redis_url), redis_client))

    assert rows["cart"]["deployed_commit"] is None
    assert rows["cart"]["drift"]["state"] == "unknown"
    assert rows["cart"]["drift"]["last_attempt"] is None

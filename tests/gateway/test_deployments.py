"""Manual deployments, rollbacks and pins through the API, in-process, on a real Redis,
real git repositories and a real registry. The gateway queues a request; the detector (a
deployment) or the committer (a rollback's tag) checks it against git and the registry."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient

from services.committer.rollback_target import with_digest
from services.committer.survey import resurvey
from services.common.bus import queue_name
from services.common.errors import PermanentError
from services.common.events import (
    DeployRequested,
    ImagePushed,
    RollbackRequested,
    UnpinRequested,
    decode_event,
)
from services.common.pins import PinStore
from services.common.runtime import Runtime
from services.common.service_inventory import InventoryStore
from services.common.settings import RegistryCredential, Settings
from services.detector.task import make_handler
from services.devenv.registry import Registry
from services.gateway.app import create_app
from tests.committer.gitrepos import Repo, monorepo, settings_for
from tests.registry_images import push_image

TOKEN = "api-token-for-tests-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def queued(client: redis.Redis, stage: str) -> list[Any]:
    events = []
    for raw in client.lrange(queue_name(stage), 0, -1):
        args, _, _ = json.loads(base64.b64decode(json.loads(raw)["body"]))
        events.append(decode_event(args[0]))
    return events


def app_for(settings: Settings) -> TestClient:
    return TestClient(create_app(settings))


def resolved(settings: Settings, request: DeployRequested) -> ImagePushed:
    """What the detector makes of a queued deployment."""
    [pushed] = make_handler(Runtime(settings))(request)
    assert isinstance(pushed, ImagePushed)
    return pushed


@pytest.fixture
def shop(tmp_path: Path, registry: Registry) -> Repo:
    return monorepo(tmp_path / "remotes", ["cart", "payments"], registry=f"{registry.host}/shop")


@pytest.fixture
def settings(shop: Repo, tmp_path: Path, redis_url: str, redis_client: redis.Redis) -> Settings:
    settings = settings_for(tmp_path / "api", shop, redis_url=redis_url, api_tokens=[TOKEN])
    resurvey(settings, InventoryStore(redis_client), shop.name)  # as the workers do
    return settings


@pytest.fixture
def api(settings: Settings) -> Iterator[TestClient]:
    with app_for(settings) as client:
        yield client


def test_a_deployment_is_queued_and_the_detector_starts_it_at_the_scanner_by_digest(
    api: TestClient, settings: Settings, shop: Repo, registry: Registry, redis_client: redis.Redis
) -> None:
    revision = shop.log()[0].hexsha
    digest = push_image(
        registry, "shop/cart", "v1.4.2", {"org.opencontainers.image.revision": revision}
    )

    response = api.post(
        "/api/v1/deployments", json={"service": "cart", "tag": "v1.4.2"}, headers=AUTH
    )

    assert response.status_code == 202, response.text
    answer = response.json()
    assert (answer["image"], answer["queue"]) == (f"{registry.host}/shop/cart:v1.4.2", "detector")
    [request] = queued(redis_client, "detector")
    assert isinstance(request, DeployRequested) and request.run_id == answer["run_id"]
    event = resolved(settings, request)
    assert (event.run_id, event.service, event.digest) == (answer["run_id"], "cart", digest)
    assert event.image == f"{registry.host}/shop/cart:v1.4.2"
    assert (event.source.repository, event.source.commit) == (shop.name, revision)
    assert event.skip_scan is None
    run = api.get(f"/api/v1/runs/{answer['run_id']}", headers=AUTH).json()
    assert (run["trigger"], run["expected"], list(run["services"])) == ("deploy", "1", ["cart"])
    assert run["commit"] == revision


def test_skipping_the_scan_needs_a_reason_and_records_who_asked(
    api: TestClient, settings: Settings, registry: Registry, redis_client: redis.Redis
) -> None:
    push_image(registry, "shop/cart", "hotfix", {})
    body = {"service": "cart", "tag": "hotfix", "skip_scan": True}

    refused = api.post("/api/v1/deployments", json=body, headers=AUTH)
    accepted = api.post(
        "/api/v1/deployments", json={**body, "reason": "outage INC-42"}, headers=AUTH
    )

    assert refused.status_code == 422 and "reason" in refused.json()["detail"]
    assert accepted.status_code == 202, accepted.text
    [request] = queued(redis_client, "detector")
    event = resolved(settings, request)
    assert event.skip_scan is not None
    assert event.skip_scan.by == "api-token-1" and event.skip_scan.reason == "outage INC-42"


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        ({"service": "nope", "tag": "v1"}, 404, "service nope is not in"),
        ({"service": "cart", "tag": "bad tag"}, 422, "tag"),
        ({"service": "cart", "tag": "v1", "repository": "acme/other"}, 422, "not configured"),
        ({"service": "cart"}, 422, "tag"),
    ],
)
def test_bad_deployments_are_refused_and_queue_nothing(
    api: TestClient, redis_client: redis.Redis, body: dict[str, str], status: int, detail: str
) -> None:
    response = api.post("/api/v1/deployments", json=body, headers=AUTH)

    assert response.status_code == status, response.text
    assert detail in response.json()["detail"]
    assert queued(redis_client, "detector") == []


def test_a_tag_not_in_the_registry_fails_the_deployment_in_the_detector_saying_so(
    api: TestClient, settings: Settings, redis_client: redis.Redis
) -> None:
    response = api.post(
        "/api/v1/deployments", json={"service": "cart", "tag": "not-pushed"}, headers=AUTH
    )

    assert response.status_code == 202, response.text
    [request] = queued(redis_client, "detector")
    with pytest.raises(PermanentError, match="cart:not-pushed is not in the registry"):
        resolved(settings, request)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/v1/deployments"),
        ("post", "/api/v1/rollbacks"),
        ("post", "/api/v1/services/cart/unpin"),
    ],
)
def test_write_endpoints_need_a_bearer_token(api: TestClient, method: str, path: str) -> None:
    missing = getattr(api, method)(path, json={"service": "cart", "tag": "v1"})
    wrong = getattr(api, method)(
        path, json={"service": "cart", "tag": "v1"}, headers={"Authorization": "Bearer nope"}
    )

    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    assert wrong.status_code in (401, 403)


def test_the_registry_check_logs_in_with_the_configured_credentials(
    tmp_path: Path,
    redis_url: str,
    redis_client: redis.Redis,
    auth_registry: Registry,
) -> None:
    shop = monorepo(tmp_path / "remotes", ["cart"], registry=f"{auth_registry.host}/shop")
    push_image(auth_registry, "shop/cart", "v2", {})
    username, password = auth_registry.auth  # type: ignore[misc]
    make: Callable[..., Settings] = settings_for
    with_login = make(
        tmp_path / "a",
        shop,
        redis_url=redis_url,
        api_tokens=[TOKEN],
        registry_auth={
            auth_registry.host: RegistryCredential(username=username, password=password)
        },
    )
    without = make(tmp_path / "b", shop, redis_url=redis_url, api_tokens=[TOKEN])
    request = DeployRequested(run_id="run-1", service="cart", repository=shop.name, tag="v2")

    assert resolved(with_login, request).tags == ("v2",)
    with pytest.raises(PermanentError, match="registry_auth") as refused:
        resolved(without, request)
    assert password not in str(refused.value)


def test_a_rollback_is_queued_for_the_committer_which_takes_its_tags_digest_from_the_registry(
    api: TestClient, settings: Settings, shop: Repo, registry: Registry, redis_client: redis.Redis
) -> None:
    digest = push_image(registry, "shop/cart", "v1.0.0", {})

    default = api.post("/api/v1/rollbacks", json={"service": "cart"}, headers=AUTH)
    to_tag = api.post("/api/v1/rollbacks", json={"service": "cart", "to": "v1.0.0"}, headers=AUTH)
    missing = api.post("/api/v1/rollbacks", json={"service": "cart", "to": "v0"}, headers=AUTH)
    unknown = api.post("/api/v1/rollbacks", json={"service": "nope"}, headers=AUTH)

    assert (default.status_code, to_tag.status_code, missing.status_code) == (202, 202, 202)
    assert unknown.status_code == 404
    first, second, third = sorted(
        queued(redis_client, "committer"), key=lambda e: (e.to is not None, e.to == "v0")
    )
    assert isinstance(first, RollbackRequested) and isinstance(second, RollbackRequested)
    assert (first.to, first.digest, first.requested_by) == (None, None, "api-token-1")
    assert with_digest(settings, first) == first
    assert (second.to, second.repository) == ("v1.0.0", shop.name)
    assert with_digest(settings, second).digest == digest
    with pytest.raises(PermanentError, match="cart:v0 is not in the registry"):
        with_digest(settings, third)
    run = api.get(f"/api/v1/runs/{default.json()['run_id']}", headers=AUTH).json()
    assert run["trigger"] == "rollback"


def test_unpin_removes_the_pin_and_says_whether_there_was_one(
    api: TestClient, shop: Repo, redis_client: redis.Redis
) -> None:
    PinStore(redis_client).pin(shop.name, "cart", "reg/cart:v1", "api-token-1", "run-rb")
    assert api.get("/api/v1/services/cart/pin", headers=AUTH).json()["pinned"] is True
    assert [p["service"] for p in api.get("/api/v1/pins", headers=AUTH).json()["pins"]] == ["cart"]

    first = api.post("/api/v1/services/cart/unpin", headers=AUTH)
    second = api.post("/api/v1/services/cart/unpin", headers=AUTH).json()

    assert first.status_code == 202, first.text
    assert first.json()["unpinned"] is True and first.json()["pin"]["image"] == "reg/cart:v1"
    assert second["unpinned"] is False
    assert api.get("/api/v1/services/cart/pin", headers=AUTH).json()["pinned"] is False


def test_an_unpin_is_queued_for_the_committer_as_a_run_that_removes_the_pin_from_git(
    api: TestClient, shop: Repo, redis_client: redis.Redis
) -> None:
    answer = api.post("/api/v1/services/cart/unpin", headers=AUTH).json()

    [request] = queued(redis_client, "committer")
    assert isinstance(request, UnpinRequested)
    assert (request.service, request.repository, request.run_id) == (
        "cart",
        shop.name,
        answer["run_id"],
    )
    assert request.requested_by == "api-token-1"
    run = api.get(f"/api/v1/runs/{answer['run_id']}", headers=AUTH).json()
    assert (run["trigger"], run["status"], list(run["services"])) == ("unpin", "running", ["cart"])


def test_an_unpin_of_an_unconfigured_repository_is_refused(api: TestClient) -> None:
    response = api.post("/api/v1/services/cart/unpin?repository=acme/nope", headers=AUTH)

    assert response.status_code == 422
    assert "acme/nope is not configured" in response.text

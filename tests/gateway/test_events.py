"""POST /api/v1/events: requests by hand (build, redeploy, rollback), never outcomes; on a
real Redis, real git repositories and a real registry (no worker consumes the queues here)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
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
    BuildRequested,
    DeployRequested,
    ImagePushed,
    RollbackRequested,
    ScanBypass,
    Source,
    decode_event,
)
from services.common.runtime import Runtime
from services.common.service_inventory import InventoryStore
from services.common.settings import STAGES, Repository, Settings
from services.detector.task import make_handler
from services.devenv.registry import Registry
from services.gateway.app import create_app
from tests.committer.gitrepos import Repo, monorepo, settings_for
from tests.registry_images import push_image

TOKEN = "api-token-for-events-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
OUTCOMES = (
    "PushReceived",
    "ChangeDetected",
    "BuildSuperseded",
    "ScanPassed",
    "ScanFailed",
    "ManifestCommitted",
    "StageFailed",
    "RunCompleted",
    "ReleaseReady",
    "DeploymentSkipped",
    "DeploymentVerified",
    "DeploymentFailed",
)


def queued(client: redis.Redis, stage: str) -> list[Any]:
    """The events waiting on a stage's queue (Celery body: base64 [args, kwargs, embed])."""
    events = []
    for raw in client.lrange(queue_name(stage), 0, -1):
        args, _, _ = json.loads(base64.b64decode(json.loads(raw)["body"]))
        events.append(decode_event(args[0]))
    return events


def nothing_queued(client: redis.Redis) -> bool:
    return all(client.llen(queue_name(stage)) == 0 for stage in STAGES)


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
    with TestClient(create_app(settings)) as client:
        yield client


def resolved(settings: Settings, request: DeployRequested) -> ImagePushed:
    """What the detector makes of a queued redeploy."""
    [pushed] = make_handler(Runtime(settings))(request)
    assert isinstance(pushed, ImagePushed)
    return pushed


def redeploy(
    shop: Repo, registry: Registry, digest: str, run_id: str = "redeploy-1", **changes: Any
) -> ImagePushed:
    event = ImagePushed(
        run_id=run_id,
        service="cart",
        source=Source(repository=shop.name, commit="d" * 40, ref="refs/heads/main"),
        image_repository=f"{registry.host}/shop/cart",
        tags=("v1.4.2",),
        digest=digest,
        cached=True,
    )
    return event.model_copy(update=changes)


def publish(api: TestClient, event: Any) -> Any:
    body = event if isinstance(event, dict) else event.model_dump(mode="json")
    return api.post("/api/v1/events", json=body, headers=AUTH)


def test_an_image_pushed_by_hand_is_a_redeploy_the_detector_rebuilds_from_the_registry(
    api: TestClient, settings: Settings, shop: Repo, registry: Registry, redis_client: redis.Redis
) -> None:
    revision = shop.log()[0].hexsha
    digest = push_image(
        registry, "shop/cart", "v1.4.2", {"org.opencontainers.image.revision": revision}
    )
    sent = redeploy(shop, registry, digest, build_seconds=999.0)

    response = publish(api, sent)

    assert response.status_code == 202, response.text
    answer = response.json()
    assert (answer["run_id"], answer["queue"]) == ("redeploy-1", "detector")
    [request] = queued(redis_client, "detector")
    assert isinstance(request, DeployRequested)
    assert str(request.event_id) == answer["event_id"] != str(sent.event_id)
    event = resolved(settings, request)
    assert (event.service, event.digest, event.image) == (
        "cart",
        digest,
        f"{registry.host}/shop/cart:v1.4.2",
    )
    assert event.source.commit == revision  # the image's label, not the sender's "d" * 40
    assert (event.build_seconds, event.cached, event.skip_scan) == (0.0, False, None)
    run = api.get("/api/v1/runs/redeploy-1", headers=AUTH).json()
    assert (run["trigger"], run["pusher"], list(run["services"])) == (
        "deploy",
        "api-token-1",
        ["cart"],
    )


def test_the_same_event_published_twice_is_queued_once(
    api: TestClient, shop: Repo, registry: Registry, redis_client: redis.Redis
) -> None:
    sent = redeploy(shop, registry, push_image(registry, "shop/cart", "v1.4.2", {}))
    first = publish(api, sent)

    again = publish(api, sent)

    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert again.json()["event_id"] == first.json()["event_id"]
    assert len(queued(redis_client, "detector")) == 1


def test_a_scan_skip_by_hand_is_recorded_as_the_callers_with_its_reason(
    api: TestClient, settings: Settings, shop: Repo, registry: Registry, redis_client: redis.Redis
) -> None:
    digest = push_image(registry, "shop/cart", "v1.4.2", {})
    skip = ScanBypass(by="someone-else@acme.dev", reason="INC-42: hotfix")

    response = publish(api, redeploy(shop, registry, digest, skip_scan=skip))

    assert response.status_code == 202, response.text
    [request] = queued(redis_client, "detector")
    event = resolved(settings, request)
    assert event.skip_scan == ScanBypass(by="api-token-1", reason="INC-42: hotfix")


@pytest.mark.parametrize("kind", OUTCOMES)
def test_a_stage_outcome_by_hand_is_refused_naming_what_may_be_published(
    api: TestClient, redis_client: redis.Redis, kind: str
) -> None:
    response = publish(api, {"type": kind, "run_id": "forged-1"})

    assert response.status_code == 422
    reason = response.json()["detail"]
    assert f"{kind} cannot be published by hand" in reason
    for allowed in ("BuildRequested", "ImagePushed", "RollbackRequested", "/api/v1/releases"):
        assert allowed in reason
    assert nothing_queued(redis_client)
    assert api.get("/api/v1/runs/forged-1", headers=AUTH).status_code == 404


def test_a_hand_event_reusing_an_existing_run_id_is_refused_and_the_run_is_untouched(
    api: TestClient, shop: Repo, registry: Registry, redis_client: redis.Redis
) -> None:
    digest = push_image(registry, "shop/cart", "v1.4.2", {})
    assert publish(api, redeploy(shop, registry, digest, run_id="taken")).status_code == 202
    before = api.get("/api/v1/runs/taken", headers=AUTH).json()
    other = BuildRequested(
        run_id="taken", repository=shop.name, ref="refs/heads/main", services=("payments",)
    )

    response = publish(api, other)

    assert response.status_code == 409
    assert "run taken exists" in response.json()["detail"]
    assert api.get("/api/v1/runs/taken", headers=AUTH).json() == before
    assert [e.type for e in queued(redis_client, "detector")] == ["DeployRequested"]  # the first


@pytest.mark.parametrize(
    ("changes", "status", "detail"),
    [
        ({"image_repository": "evil.example.com/backdoor"}, 422, "is not the image repository"),
        ({"tags": ("v1.4.2", "latest")}, 422, "exactly one tag"),
        ({"service": "nope"}, 404, "service nope is not in"),
    ],
)
def test_a_redeploy_of_anything_but_the_services_own_registry_image_is_refused(
    api: TestClient,
    shop: Repo,
    registry: Registry,
    redis_client: redis.Redis,
    changes: dict[str, Any],
    status: int,
    detail: str,
) -> None:
    digest = push_image(registry, "shop/cart", "v1.4.2", {})

    response = publish(api, redeploy(shop, registry, digest).model_copy(update=changes))

    assert response.status_code == status, response.text
    assert detail in response.json()["detail"]
    assert nothing_queued(redis_client)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"digest": "sha256:" + "0" * 64}, "in the registry, not sha256:0000"),
        ({"tags": ("not-pushed",)}, "not in the registry"),
    ],
)
def test_a_redeploy_the_registry_contradicts_fails_in_the_detector_with_the_reason(
    api: TestClient,
    settings: Settings,
    shop: Repo,
    registry: Registry,
    redis_client: redis.Redis,
    changes: dict[str, Any],
    reason: str,
) -> None:
    digest = push_image(registry, "shop/cart", "v1.4.2", {})

    response = publish(api, redeploy(shop, registry, digest).model_copy(update=changes))

    assert response.status_code == 202, response.text
    [request] = queued(redis_client, "detector")
    with pytest.raises(PermanentError, match=reason):
        resolved(settings, request)


def test_a_build_request_by_hand_is_queued_for_the_detector_as_the_callers(
    api: TestClient, shop: Repo, redis_client: redis.Redis
) -> None:
    sent = BuildRequested(
        run_id="rebuild-1",
        repository=shop.name,
        ref="refs/heads/main",
        services=("cart",),
        requested_by="someone-else",
    )

    response = publish(api, sent)

    assert response.status_code == 202, response.text
    [event] = queued(redis_client, "detector")
    assert (event.services, event.requested_by) == (("cart",), "api-token-1")
    assert redis_client.hget("shipline:run:rebuild-1", "trigger") == b"forced"


def test_a_rollback_by_hand_takes_the_digest_of_its_tag_from_the_registry(
    api: TestClient, settings: Settings, shop: Repo, registry: Registry, redis_client: redis.Redis
) -> None:
    digest = push_image(registry, "shop/cart", "v1.4.1", {})
    sent = RollbackRequested(
        run_id="back-1",
        service="cart",
        repository=shop.name,
        to="v1.4.1",
        digest="sha256:" + "0" * 64,
        requested_by="someone-else",
    )

    response = publish(api, sent)

    assert response.status_code == 202, response.text
    [event] = queued(redis_client, "committer")
    assert (event.to, event.digest, event.requested_by) == ("v1.4.1", None, "api-token-1")
    assert with_digest(settings, event).digest == digest  # the committer's lookup


def test_publishing_without_a_token_is_refused_and_queues_nothing(
    api: TestClient, redis_client: redis.Redis
) -> None:
    response = api.post("/api/v1/events", json={"type": "ScanPassed", "run_id": "r"})

    assert response.status_code == 401
    assert nothing_queued(redis_client)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"type": "Nope", "run_id": "r"}', "does not match any of the expected tags"),
        (b'{"type": "ImagePushed", "run_id": "r"}', "service"),
        (b"not json", "invalid event"),
    ],
)
def test_an_invalid_event_gets_422_with_the_reason_and_queues_nothing(
    api: TestClient, redis_client: redis.Redis, body: bytes, reason: str
) -> None:
    response = api.post("/api/v1/events", content=body, headers=AUTH)

    assert response.status_code == 422
    assert reason in response.json()["detail"]
    assert nothing_queued(redis_client)


def test_a_request_for_an_unconfigured_repository_gets_422(
    api: TestClient, redis_client: redis.Redis
) -> None:
    sent = BuildRequested(
        run_id="r1", repository="evil/other", ref="refs/heads/main", services=("cart",)
    )

    response = publish(api, sent)

    assert response.status_code == 422
    assert "repository evil/other is not configured" in response.json()["detail"]
    assert nothing_queued(redis_client)


def test_an_event_by_hand_gets_503_with_retry_after_when_redis_is_down(tmp_path: Path) -> None:
    settings = Settings(
        redis_url="redis://127.0.0.1:1/0",
        workdir=tmp_path,
        repositories=[Repository(name="acme/shop", url="file:///nowhere", webhook_secret="s" * 20)],
        api_tokens=[TOKEN],
    )
    sent = BuildRequested(
        run_id="r1", repository="acme/shop", ref="refs/heads/main", services=("cart",)
    )
    with TestClient(create_app(settings)) as client:
        response = client.post("/api/v1/events", json=sent.model_dump(mode="json"), headers=AUTH)

    assert response.status_code == 503
    assert "retry later" in response.json()["detail"]
    assert response.headers["Retry-After"] == "5"

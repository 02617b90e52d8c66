"""POST /api/v1/promotions in-process, on a real Redis and real git repositories: who may ask,
what is checked before anything is queued, and what is queued (never an image)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient

from services.common.environment_view import EnvironmentsStore
from services.common.events import PromotionRequested
from services.common.settings import Settings
from services.gateway.app import create_app
from tests.committer.gitrepos import Repo, monorepo, settings_for
from tests.gateway.test_deployments import queued

WRITER = "promotion-writer-token-0123456789"
READER = "promotion-reader-token-0123456789"


@pytest.fixture
def shop(tmp_path: Path) -> Repo:
    return monorepo(tmp_path / "remotes", ["cart"])


@pytest.fixture
def client(shop: Repo, tmp_path: Path, redis_url: str, redis_client: redis.Redis) -> TestClient:
    tokens = [WRITER, {"token": READER, "scopes": ["read"], "name": "viewer"}]
    settings: Settings = settings_for(
        tmp_path / "api", shop, redis_url=redis_url, api_tokens=tokens
    )
    return TestClient(create_app(settings))


def post(client: TestClient, body: object, token: str = WRITER) -> tuple[int, dict[str, object]]:
    answer = client.post(
        "/api/v1/promotions", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    return answer.status_code, answer.json()


def test_a_read_only_token_may_not_promote(client: TestClient, redis_client: redis.Redis) -> None:
    status, body = post(client, {"service": "cart", "to": "production"}, token=READER)

    assert status == 403
    assert "token viewer may only read" in str(body["detail"])
    assert queued(redis_client, "committer") == []


@pytest.mark.parametrize(
    "request_body",
    [
        {"services": ["cart"], "service": "cart", "to": "production"},
        {"to": "production"},
        {"service": "cart", "to": "Production; rm -rf /"},
        {"service": "cart", "to": "production", "image": "evil.example/backdoor:1"},
    ],
    ids=["both", "neither", "hostile-environment", "an-image"],
)
def test_a_malformed_promotion_is_refused_before_anything_is_queued(
    client: TestClient, redis_client: redis.Redis, request_body: dict[str, object]
) -> None:
    status, _ = post(client, request_body)

    assert status == 422
    assert queued(redis_client, "committer") == []


def test_before_the_committer_recorded_any_environment_the_promotion_is_queued_for_it(
    client: TestClient, redis_client: redis.Redis, shop: Repo
) -> None:
    EnvironmentsStore(redis_client).forget(shop.name)

    status, body = post(client, {"services": ["cart", "cart"], "to": "production", "reason": "go"})

    assert status == 202, body
    [event] = queued(redis_client, "committer")
    assert isinstance(event, PromotionRequested)
    assert event.run_id == body["run_id"]
    assert (event.services, event.environment, event.reason) == (("cart",), "production", "go")
    assert event.requested_by == "api-token-1"
    assert "image" not in json.loads(event.model_dump_json())


def test_a_promotion_published_as_an_event_by_hand_is_refused(
    client: TestClient, redis_client: redis.Redis, shop: Repo
) -> None:
    event = PromotionRequested(
        run_id="by-hand", repository=shop.name, services=("cart",), environment="production"
    )
    answer = client.post(
        "/api/v1/events",
        content=event.model_dump_json(),
        headers={"Authorization": f"Bearer {WRITER}", "Content-Type": "application/json"},
    )

    assert answer.status_code == 422, answer.text
    assert "PromotionRequested cannot be published by hand" in answer.text
    assert queued(redis_client, "committer") == []

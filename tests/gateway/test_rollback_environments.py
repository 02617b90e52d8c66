"""Rollbacks and unpins naming an environment through the gateway, in-process, on a real
Redis and real git repositories: queued for the committer with the environment, checked
against the token's `rollback:<environment>` scope, an unknown environment refused with 422,
and an unpin clearing the cached pin of that environment only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient

from services.common.environment_view import EnvironmentsStore, EnvironmentsView, EnvironmentView
from services.common.events import RollbackRequested, UnpinRequested
from services.common.pins import Pin, PinStore
from services.gateway.app import create_app
from tests.committer.gitrepos import Repo, monorepo, settings_for
from tests.gateway.test_deployments import queued

ONCALL = "rollback-production-token-0123456789"
SRE = "rollback-everywhere-token-0123456789"
TOKENS: list[object] = [
    {"token": ONCALL, "scopes": ["read", "rollback:production"], "name": "oncall"},
    {"token": SRE, "scopes": ["read", "rollback"], "name": "sre"},
]


@pytest.fixture
def shop(tmp_path: Path) -> Repo:
    return monorepo(tmp_path / "remotes", ["cart"])


@pytest.fixture
def client(
    shop: Repo, tmp_path: Path, redis_url: str, redis_client: redis.Redis
) -> Iterator[TestClient]:
    environments = (
        EnvironmentView(name="staging"),
        EnvironmentView(name="production", source="staging"),
    )
    view = EnvironmentsView(repository=shop.name, commit="c" * 40, environments=environments)
    EnvironmentsStore(redis_client).record(view)  # as the committer records it
    settings = settings_for(tmp_path / "api", shop, redis_url=redis_url, api_tokens=TOKENS)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def post(client: TestClient, path: str, body: object, token: str) -> tuple[int, Any]:
    answer = client.post(path, json=body, headers={"Authorization": f"Bearer {token}"})
    return answer.status_code, answer.json()


def test_a_rollback_in_production_is_queued_naming_it_for_a_production_token(
    client: TestClient, redis_client: redis.Redis
) -> None:
    body = {"service": "cart", "environment": "production"}

    status, answer = post(client, "/api/v1/rollbacks", body, ONCALL)

    assert status == 202, answer
    [event] = queued(redis_client, "committer")
    assert isinstance(event, RollbackRequested)
    assert (event.environment, event.requested_by) == ("production", "oncall")
    status, answer = post(client, "/api/v1/rollbacks", {**body, "environment": "staging"}, ONCALL)
    assert status == 403
    assert "rollback:staging needed" in answer["detail"]


def test_a_rollback_or_unpin_in_an_environment_the_repository_has_not_is_refused(
    client: TestClient, redis_client: redis.Redis
) -> None:
    body = {"service": "cart", "environment": "qa"}

    status, answer = post(client, "/api/v1/rollbacks", body, SRE)
    unpinned = client.post(
        "/api/v1/services/cart/unpin?environment=qa", headers={"Authorization": f"Bearer {SRE}"}
    )
    hostile = post(client, "/api/v1/rollbacks", {**body, "environment": "../prod"}, SRE)

    assert status == 422 and "no environment 'qa' (there are: staging, production)" in str(answer)
    assert unpinned.status_code == 422
    assert hostile[0] == 422
    assert queued(redis_client, "committer") == []


def test_an_unpin_in_production_clears_productions_cached_pin_only(
    client: TestClient, shop: Repo, redis_client: redis.Redis
) -> None:
    store = PinStore(redis_client)
    store.put(Pin(shop.name, "cart", "reg/cart:v1", "ops", "run-1", 1.0))
    store.put(Pin(shop.name, "cart", "reg/cart:v0", "oncall", "run-2", 2.0, "production"))
    auth = {"Authorization": f"Bearer {SRE}"}
    shown = client.get("/api/v1/services/cart/pin?environment=production", headers=auth).json()

    answer = client.post("/api/v1/services/cart/unpin?environment=production", headers=auth)

    assert shown["pin"]["image"] == "reg/cart:v0"
    assert answer.status_code == 202, answer.text
    assert answer.json()["unpinned"] is True and answer.json()["pin"]["image"] == "reg/cart:v0"
    [event] = queued(redis_client, "committer")
    assert isinstance(event, UnpinRequested) and event.environment == "production"
    assert store.get(shop.name, "cart", "production") is None
    staging = store.get(shop.name, "cart")
    assert staging is not None and staging.image == "reg/cart:v1"

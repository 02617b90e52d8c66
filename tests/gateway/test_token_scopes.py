"""Who may do what where: token scopes per environment through the gateway, in-process, on a
real Redis and real git repositories (dev → staging → production, as the committer's view
records them). A refusal is 403 with the scope needed; what passes is queued with the token's
name, never its value."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient

from services.common.environment_view import (
    EnvironmentsStore,
    EnvironmentsView,
    EnvironmentView,
    Running,
)
from services.common.events import DeployRequested, PromotionRequested, RollbackRequested
from services.gateway.app import create_app
from tests.committer.gitrepos import Repo, monorepo, settings_for
from tests.gateway.test_deployments import queued

LEGACY = "scopes-legacy-token-0123456789"
PROMOTER = "scopes-promote-staging-token-0123456789"
DEPLOYER = "scopes-deploy-token-0123456789"
STAGING_DEPLOYER = "scopes-deploy-staging-token-0123456789"
PRODUCTION_ROLLER = "scopes-rollback-production-token-0123456789"
ROLLER = "scopes-rollback-token-0123456789"
READER = "scopes-read-token-0123456789"
ADMIN = "scopes-admin-token-0123456789"
TOKENS: list[object] = [
    LEGACY,
    {"token": PROMOTER, "scopes": ["read", "promote:staging"], "name": "team-staging"},
    {"token": DEPLOYER, "scopes": ["read", "deploy"], "name": "ci-deploy"},
    {"token": STAGING_DEPLOYER, "scopes": ["read", "deploy:staging"], "name": "ci-staging"},
    {"token": PRODUCTION_ROLLER, "scopes": ["read", "rollback:production"], "name": "oncall"},
    {"token": ROLLER, "scopes": ["read", "rollback"], "name": "sre"},
    {"token": READER, "scopes": ["read"], "name": "viewer"},
    {"token": ADMIN, "scopes": ["admin"], "name": "root"},
]
SECRETS = [LEGACY, PROMOTER, DEPLOYER, STAGING_DEPLOYER, PRODUCTION_ROLLER, ROLLER, READER, ADMIN]


@pytest.fixture
def shop(tmp_path: Path) -> Repo:
    return monorepo(tmp_path / "remotes", ["cart"])


@pytest.fixture
def client(shop: Repo, tmp_path: Path, redis_url: str) -> Iterator[TestClient]:
    settings = settings_for(tmp_path / "api", shop, redis_url=redis_url, api_tokens=TOKENS)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def record_environments(redis_client: redis.Redis, shop: Repo, releases: str = "") -> None:
    """What the committer records after a commit: cart built from a newer commit in dev."""

    def cart(tag: str) -> dict[str, Running]:
        image = f"registry.example/cart:{tag}"
        return {"cart": Running(image=image, repository=shop.name, commit=tag[-1] * 40)}

    environments = (
        EnvironmentView(name="dev", services=cart("sha-b")),
        EnvironmentView(name="staging", source="dev", services=cart("sha-a")),
        EnvironmentView(
            name="production",
            source="staging",
            services=cart("sha-a"),
            releases=releases == "production",
        ),
    )
    view = EnvironmentsView(repository=shop.name, commit="c" * 40, environments=environments)
    EnvironmentsStore(redis_client).record(view)


def post(client: TestClient, path: str, body: object, token: str) -> tuple[int, Any]:
    answer = client.post(path, json=body, headers={"Authorization": f"Bearer {token}"})
    return answer.status_code, answer.json()


def promote(client: TestClient, to: str, token: str) -> tuple[int, Any]:
    return post(client, "/api/v1/promotions", {"service": "cart", "to": to}, token)


def test_a_promote_staging_token_promotes_to_staging_and_is_refused_production_with_the_scope(
    client: TestClient, shop: Repo, redis_client: redis.Redis
) -> None:
    record_environments(redis_client, shop)

    status, body = promote(client, "staging", PROMOTER)
    refused_status, refused = promote(client, "production", PROMOTER)
    assert status == 202, body
    [event] = queued(redis_client, "committer")
    assert isinstance(event, PromotionRequested)
    assert (event.environment, event.requested_by) == ("staging", "team-staging")
    assert client.get(f"/api/v1/runs/{body['run_id']}", headers=bearer(READER)).json()[
        "pusher"
    ] == ("team-staging")

    assert refused_status == 403
    assert refused["detail"] == (
        "token team-staging may promote to staging only: promote:production needed"
    )
    assert len(queued(redis_client, "committer")) == 1

    for secret in SECRETS:  # secrets in logs: tests/security (the log's own capture)
        assert secret not in json.dumps(refused) + json.dumps(body)


def test_a_deploy_token_deploys_by_hand_but_may_not_promote(
    client: TestClient, shop: Repo, redis_client: redis.Redis
) -> None:
    record_environments(redis_client, shop)

    status, body = post(client, "/api/v1/deployments", {"service": "cart", "tag": "v1"}, DEPLOYER)
    assert status == 202, body
    [deploy] = queued(redis_client, "detector")
    assert isinstance(deploy, DeployRequested)
    assert deploy.requested_by == "ci-deploy"

    status, body = promote(client, "production", DEPLOYER)
    assert status == 403
    assert body["detail"] == (
        "token ci-deploy may not promote (scopes: ['read', 'deploy']): promote:production needed"
    )
    assert queued(redis_client, "committer") == []


def test_a_read_token_may_neither_deploy_nor_promote(
    client: TestClient, shop: Repo, redis_client: redis.Redis
) -> None:
    record_environments(redis_client, shop)

    deployed = post(client, "/api/v1/deployments", {"service": "cart", "tag": "v1"}, READER)
    promoted = promote(client, "staging", READER)

    for status, body in (deployed, promoted):
        assert status == 403
        assert body["detail"].startswith("token viewer may only read (scopes: ['read'])")
    assert queued(redis_client, "detector") == queued(redis_client, "committer") == []


def test_a_deploy_scope_names_the_first_environment_for_hand_deploys_and_forced_builds(
    client: TestClient, shop: Repo, redis_client: redis.Redis
) -> None:
    record_environments(redis_client, shop)
    build = {"repository": shop.name, "ref": "refs/heads/main", "services": ["cart"]}

    status, body = post(client, "/api/v1/deployments", {"service": "cart", "tag": "v1"}, PROMOTER)
    assert status == 403
    assert body["detail"] == (
        "token team-staging may not deploy (scopes: ['read', 'promote:staging']): deploy:dev needed"
    )
    assert post(client, "/api/v1/builds", build, STAGING_DEPLOYER)[1]["detail"] == (
        "token ci-staging may deploy to staging only: deploy:dev needed"
    )
    assert queued(redis_client, "detector") == []

    assert post(client, "/api/v1/builds", build, DEPLOYER)[0] == 202


def test_a_release_needs_deploy_in_the_environment_with_releases_true(
    client: TestClient, shop: Repo, redis_client: redis.Redis
) -> None:
    record_environments(redis_client, shop, releases="production")

    status, body = post(client, "/api/v1/releases", {"tag": "v1.0.0"}, STAGING_DEPLOYER)

    assert status == 403
    assert body["detail"] == "token ci-staging may deploy to staging only: deploy:production needed"
    assert queued(redis_client, "detector") == []
    assert post(client, "/api/v1/releases", {"tag": "v1.0.0"}, DEPLOYER)[0] == 202


def test_rollbacks_and_unpins_act_on_the_first_environment_until_they_name_one(
    client: TestClient, shop: Repo, redis_client: redis.Redis
) -> None:
    record_environments(redis_client, shop)

    status, body = post(client, "/api/v1/rollbacks", {"service": "cart"}, PRODUCTION_ROLLER)
    assert status == 403
    assert body["detail"] == "token oncall may roll back in production only: rollback:dev needed"
    status, body = post(client, "/api/v1/services/cart/unpin", None, PRODUCTION_ROLLER)
    assert status == 403
    assert queued(redis_client, "committer") == []

    status, body = post(client, "/api/v1/rollbacks", {"service": "cart"}, ROLLER)
    assert status == 202, body
    [rollback] = queued(redis_client, "committer")
    assert isinstance(rollback, RollbackRequested)
    assert rollback.requested_by == "sre"
    assert post(client, "/api/v1/services/cart/unpin", None, ROLLER)[0] == 202


def test_events_by_hand_need_write_or_admin(
    client: TestClient, shop: Repo, redis_client: redis.Redis
) -> None:
    record_environments(redis_client, shop)
    event = {"type": "BuildRequested", "run_id": "by-hand-1", "repository": shop.name}
    event |= {"ref": "refs/heads/main", "services": ["cart"]}

    status, body = post(client, "/api/v1/events", event, DEPLOYER)
    assert status == 403
    assert body["detail"] == (
        "token ci-deploy may not use this endpoint (scopes: ['read', 'deploy']): "
        "write or admin needed"
    )
    assert queued(redis_client, "detector") == []

    status, body = post(client, "/api/v1/events", event, ADMIN)
    assert status == 202, body


def test_admin_and_plain_string_tokens_may_do_everything_everywhere(
    client: TestClient, shop: Repo, redis_client: redis.Redis
) -> None:
    record_environments(redis_client, shop)

    for token in (ADMIN, LEGACY):
        assert promote(client, "staging", token)[0] == 202
        assert promote(client, "production", token)[0] == 200  # runs staging's image already
        assert post(client, "/api/v1/rollbacks", {"service": "cart"}, token)[0] == 202
    names = {event.requested_by for event in queued(redis_client, "committer")}
    assert names == {"root", "api-token-1"}


def test_without_known_environments_only_a_scope_for_every_environment_deploys(
    client: TestClient, shop: Repo, redis_client: redis.Redis
) -> None:
    EnvironmentsStore(redis_client).forget(shop.name)  # no environments: in shipline.yaml

    status, body = post(
        client, "/api/v1/deployments", {"service": "cart", "tag": "v1"}, STAGING_DEPLOYER
    )

    assert status == 403
    assert body["detail"] == (
        "token ci-staging may deploy to staging only: deploy (every environment: this "
        "repository's environments are not known here) needed"
    )
    assert post(client, "/api/v1/deployments", {"service": "cart", "tag": "v1"}, DEPLOYER)[0] == 202


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}

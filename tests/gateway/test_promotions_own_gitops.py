"""POST /api/v1/promotions to a production with its own gitops repository, in-process on a
real Redis and real git remotes: the committer's view reads each environment on its own
branch, and the gateway answers from it (queued, nothing to do, 409) as for one branch."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient

from services.committer.environment_survey import record_environments
from services.committer.promote import promote
from services.committer.writeback import GitopsWriter
from services.common.environment_view import EnvironmentsStore
from services.common.events import PromotionRequested
from services.common.repository_settings import GitopsRepository
from services.common.settings import Settings
from services.gateway.app import create_app
from tests.committer.gitrepos import REGISTRY, Repo, settings_for
from tests.committer.test_promote_own_gitops import (
    PRODUCTION_GITOPS,
    deployed_to_staging,
    production_files,
    shop_repo,
)
from tests.gateway.test_deployments import queued

TOKEN = "own-gitops-promoter-token-0123456789"


@pytest.fixture
def shop(tmp_path: Path) -> Repo:
    return shop_repo(tmp_path / "remotes", {"repository": PRODUCTION_GITOPS})


@pytest.fixture
def settings(shop: Repo, tmp_path: Path, redis_url: str) -> Settings:
    prod = Repo(tmp_path / "remotes", PRODUCTION_GITOPS)
    prod.commit(production_files(), "production's manifests")
    entry = GitopsRepository(name=prod.name, url=prod.url)
    return settings_for(
        tmp_path / "c",
        shop,
        redis_url=redis_url,
        api_tokens=[TOKEN],
        gitops_repositories=[entry],
    )


@pytest.fixture
def writer(settings: Settings, redis_client: redis.Redis) -> GitopsWriter:
    return GitopsWriter.connect(settings, redis_client)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def ask(client: TestClient, service: str) -> tuple[int, Any]:
    answer = client.post(
        "/api/v1/promotions",
        json={"service": service, "to": "production"},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    return answer.status_code, answer.json()


def recorded(writer: GitopsWriter, redis_client: redis.Redis, shop: Repo, commit: str) -> None:
    store = EnvironmentsStore(redis_client)
    record_environments(writer.targets, writer.commits, store, shop.name, commit)


def test_the_view_reads_production_from_its_own_repository(
    shop: Repo, writer: GitopsWriter, redis_client: redis.Redis
) -> None:
    commit = deployed_to_staging(shop, writer, "cart")
    promote(
        PromotionRequested(
            run_id="run-p", repository=shop.name, services=("cart",), environment="production"
        ),
        writer.targets,
        writer.commits,
    )

    recorded(writer, redis_client, shop, commit)

    view = EnvironmentsStore(redis_client).read(shop.name)
    assert view is not None
    staging, production = view.environments
    image = f"{REGISTRY}/cart:sha-{commit[:7]}"
    assert staging.services["cart"].image == production.services["cart"].image == image
    assert production.services["cart"].commit == commit
    assert "is not a Shipline deploy of search to production" in (
        production.services["search"].why_not or ""
    )


def test_a_promotion_to_production_in_its_own_repository_is_queued_then_found_done(
    client: TestClient, shop: Repo, writer: GitopsWriter, redis_client: redis.Redis
) -> None:
    commit = deployed_to_staging(shop, writer, "cart")
    recorded(writer, redis_client, shop, commit)

    status, body = ask(client, "cart")

    assert status == 202, body
    [event] = queued(redis_client, "committer")
    assert isinstance(event, PromotionRequested) and event.environment == "production"
    promote(event, writer.targets, writer.commits)
    recorded(writer, redis_client, shop, commit)
    status, body = ask(client, "cart")
    assert status == 200, body
    assert body["queued"] is False and "production already runs what staging runs" in body["reason"]


def test_what_staging_never_deployed_is_answered_409_with_the_reason(
    client: TestClient, shop: Repo, writer: GitopsWriter, redis_client: redis.Redis
) -> None:
    commit = deployed_to_staging(shop, writer, "cart")
    recorded(writer, redis_client, shop, commit)

    status, body = ask(client, "search")

    assert status == 409, body
    assert "staging runs nothing promotable for search" in body["detail"]
    assert queued(redis_client, "committer") == []

"""GitHub `pull_request` webhooks for promotions' pull requests, in-process on a real Redis:
payloads made from GitHub's published webhook schemas (npm @octokit/openapi-webhooks),
signed like pushes; only a close of a request a promotion waits on queues anything."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient

from services.common.events import ManifestCommitted, PullRequestClosed, Source
from services.common.promotion_pulls import PendingPromotion, PromotionPulls
from services.common.repository_settings import GitopsRepository
from services.common.settings import Settings
from services.devenv.webhook_descriptions import github_webhooks
from services.gateway.app import create_app
from services.gateway.github import sign
from tests.committer.gitrepos import Repo, monorepo, settings_for
from tests.gateway.test_deployments import queued
from tests.githost.webhook_payloads import WebhookSchemas

pytestmark = pytest.mark.integration  # npm fetches the schemas into the devenv state

GITOPS_SECRET = "gitops-webhook-secret-0123456789"
SHOP_SECRET = "x" * 20  # settings_for's
MERGE = "5" * 40
PROMOTED = "7" * 40


@pytest.fixture(scope="session")
def schemas(devenv_state_dir: Path) -> WebhookSchemas:
    try:
        return WebhookSchemas(github_webhooks(devenv_state_dir))
    except RuntimeError as exc:
        pytest.fail(f"GitHub's webhook schemas are unavailable: {exc}", pytrace=False)


@pytest.fixture
def shop(tmp_path: Path) -> Repo:
    return monorepo(tmp_path / "remotes", ["cart"])


@pytest.fixture
def client(shop: Repo, tmp_path: Path, redis_url: str) -> TestClient:
    gitops = GitopsRepository(
        name="acme/gitops", url="file:///nowhere.git", webhook_secret=GITOPS_SECRET
    )
    settings: Settings = settings_for(
        tmp_path / "api", shop, redis_url=redis_url, gitops_repositories=[gitops]
    )
    return TestClient(create_app(settings))


@pytest.fixture
def waiting(redis_client: redis.Redis) -> PendingPromotion:
    source = Source(repository="acme/shop", commit="1" * 40, ref="refs/heads/main")
    committed = ManifestCommitted(
        run_id="run-p1",
        service="cart",
        source=source,
        manifest_path="k8s/production/cart.yaml",
        old_image="r/cart:old",
        new_image="r/cart:new",
        gitops_repository="acme/gitops",
        gitops_commit=PROMOTED,
        branch="main",
    )
    pending = PendingPromotion(
        run_id="run-p1",
        repository="acme/shop",
        environment="production",
        gitops_repository="acme/gitops",
        number=3,
        url="https://github.example/acme/gitops/pull/3",
        branch="shipline/promote-production",
        commit=PROMOTED,
        committed=(committed,),
    )
    PromotionPulls(redis_client).record(pending)
    return pending


def pull_request_fields(action: str, merged: bool, number: int = 3) -> dict[str, Any]:
    """The fields of a `pull_request` webhook the gateway reads, named alike by GitHub and
    Gitea: of promotion pull request `number` into acme/gitops."""
    return {
        "action": action,
        "number": number,
        "pull_request": {
            "number": number,
            "merged": merged,
            "merge_commit_sha": MERGE if merged else None,
            "head": {"ref": "shipline/promote-production"},
            "base": {"ref": "main"},
        },
        "repository": {"full_name": "acme/gitops"},
    }


def closed(schemas: WebhookSchemas, merged: bool, **overlay: Any) -> bytes:
    fields = {**pull_request_fields("closed", merged), **overlay}
    payload = schemas.payload("webhook-pull-request-closed", fields)
    return json.dumps(payload).encode()


def deliver(client: TestClient, body: bytes, secret: str = GITOPS_SECRET) -> Any:
    headers = {
        "X-GitHub-Event": "pull_request",
        "X-GitHub-Delivery": "d-1",
        "X-Hub-Signature-256": sign(secret, body),
        "Content-Type": "application/json",
    }
    return client.post("/webhooks/github", content=body, headers=headers)


def test_a_merged_promotion_pull_request_continues_its_run(
    client: TestClient, schemas: WebhookSchemas, waiting: PendingPromotion, redis_client
) -> None:
    answer = deliver(client, closed(schemas, merged=True))

    assert answer.status_code == 202, answer.text
    assert answer.json() == {"run_id": "run-p1", "merged": True}
    [event] = queued(redis_client, "committer")
    assert isinstance(event, PullRequestClosed)
    assert (event.run_id, event.number, event.merged) == ("run-p1", 3, True)
    assert (event.gitops_repository, event.merge_commit_sha) == ("acme/gitops", MERGE)


def test_a_promotion_pull_request_closed_unmerged_is_queued_as_such(
    client: TestClient, schemas: WebhookSchemas, waiting: PendingPromotion, redis_client
) -> None:
    answer = deliver(client, closed(schemas, merged=False))

    assert answer.status_code == 202 and answer.json()["merged"] is False
    [event] = queued(redis_client, "committer")
    assert isinstance(event, PullRequestClosed) and not event.merged


def test_a_forged_pull_request_webhook_is_refused_and_queues_nothing(
    client: TestClient, schemas: WebhookSchemas, waiting: PendingPromotion, redis_client
) -> None:
    answer = deliver(client, closed(schemas, merged=True), secret="not-the-secret-at-all")

    assert answer.status_code == 401
    assert "X-Hub-Signature-256" in answer.json()["detail"]
    assert queued(redis_client, "committer") == []


def test_a_pull_request_signed_with_another_repositorys_secret_is_refused(
    client: TestClient, schemas: WebhookSchemas, waiting: PendingPromotion, redis_client
) -> None:
    answer = deliver(client, closed(schemas, merged=True), secret=SHOP_SECRET)

    assert answer.status_code == 403
    assert "acme/gitops does not use this secret" in answer.json()["detail"]
    assert queued(redis_client, "committer") == []


def test_a_pull_request_no_promotion_waits_on_is_ignored(
    client: TestClient, schemas: WebhookSchemas, waiting: PendingPromotion, redis_client
) -> None:
    body = closed(schemas, merged=True, number=4)

    answer = deliver(client, body)

    assert answer.status_code == 202
    assert "no promotion waits on pull request #4" in answer.json()["ignored"]
    assert queued(redis_client, "committer") == []


def test_a_pull_request_opened_moves_nothing(
    client: TestClient, schemas: WebhookSchemas, waiting: PendingPromotion, redis_client
) -> None:
    payload = json.loads(closed(schemas, merged=False))
    payload["action"] = "opened"
    body = json.dumps(payload).encode()

    answer = deliver(client, body)

    assert answer.status_code == 202 and "only a close" in answer.json()["ignored"]
    assert queued(redis_client, "committer") == []

# ruff: noqa: F811 (the fixtures imported from test_pull_request_webhook)
"""GitLab's `Merge Request Hook` and Gitea's `pull_request` webhook close a promotion's
request as GitHub's does (tests/gateway/test_pull_request_webhook.py).

Neither host publishes a schema of its webhooks in a package (GitHub's come from
@octokit/openapi-webhooks): these payloads follow the hosts' webhook documentation — GitLab's
merge request events (`object_kind`, `object_attributes.iid`, `action`, `state`,
`merge_commit_sha`, `project.path_with_namespace`) and Gitea's PullRequestPayload (`action`,
`number`, `pull_request.merged`, `merge_commit_sha`, `repository.full_name`).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.common.events import PullRequestClosed
from services.common.promotion_pulls import PendingPromotion
from services.gateway.gitea import sign
from tests.gateway.test_deployments import queued
from tests.gateway.test_pull_request_webhook import (  # noqa: F401 (fixtures)
    GITOPS_SECRET,
    MERGE,
    SHOP_SECRET,
    client,
    pull_request_fields,
    shop,
    waiting,
)

pytestmark = pytest.mark.integration


def gitlab_hook(action: str, iid: int = 3, state: str | None = None) -> bytes:
    attributes: dict[str, Any] = {
        "iid": iid,
        "action": action,
        "state": state or {"merge": "merged", "close": "closed"}.get(action, "opened"),
        "merge_commit_sha": MERGE if action == "merge" else None,
        "source_branch": "shipline/promote-production",
        "target_branch": "main",
    }
    payload = {
        "object_kind": "merge_request",
        "event_type": "merge_request",
        "project": {"path_with_namespace": "acme/gitops"},
        "object_attributes": attributes,
    }
    return json.dumps(payload).encode()


def to_gitlab(client: TestClient, body: bytes, token: str = GITOPS_SECRET) -> Any:
    headers = {
        "X-Gitlab-Event": "Merge Request Hook",
        "X-Gitlab-Token": token,
        "Content-Type": "application/json",
    }
    return client.post("/webhooks/gitlab", content=body, headers=headers)


def gitea_hook(action: str, merged: bool, number: int = 3) -> bytes:
    return json.dumps(pull_request_fields(action, merged, number)).encode()


def to_gitea(client: TestClient, body: bytes, secret: str = GITOPS_SECRET) -> Any:
    headers = {
        "X-Gitea-Event": "pull_request",
        "X-Gitea-Delivery": "d-1",
        "X-Gitea-Signature": sign(secret, body),
        "Content-Type": "application/json",
    }
    return client.post("/webhooks/gitea", content=body, headers=headers)


def test_a_gitlab_merge_continues_the_promotions_run(
    client: TestClient, waiting: PendingPromotion, redis_client
) -> None:
    answer = to_gitlab(client, gitlab_hook("merge"))

    assert answer.status_code == 202, answer.text
    assert answer.json() == {"run_id": "run-p1", "merged": True}
    [event] = queued(redis_client, "committer")
    assert isinstance(event, PullRequestClosed)
    assert (event.number, event.merged, event.merge_commit_sha) == (3, True, MERGE)


def test_a_gitlab_merge_request_closed_unmerged_is_queued_as_such(
    client: TestClient, waiting: PendingPromotion, redis_client
) -> None:
    answer = to_gitlab(client, gitlab_hook("close"))

    assert answer.status_code == 202 and answer.json()["merged"] is False
    [event] = queued(redis_client, "committer")
    assert isinstance(event, PullRequestClosed) and not event.merged


def test_a_gitlab_hook_with_a_wrong_token_or_anothers_token_queues_nothing(
    client: TestClient, waiting: PendingPromotion, redis_client
) -> None:
    wrong = to_gitlab(client, gitlab_hook("merge"), token="not-the-token-at-all")
    anothers = to_gitlab(client, gitlab_hook("merge"), token=SHOP_SECRET)

    assert wrong.status_code == 401 and "X-Gitlab-Token" in wrong.json()["detail"]
    assert anothers.status_code == 403
    assert queued(redis_client, "committer") == []


def test_a_gitlab_merge_request_updated_or_unknown_moves_nothing(
    client: TestClient, waiting: PendingPromotion, redis_client
) -> None:
    updated = to_gitlab(client, gitlab_hook("update"))
    unknown = to_gitlab(client, gitlab_hook("merge", iid=4))

    assert "only a close moves a promotion" in updated.json()["ignored"]
    assert "no promotion waits on pull request #4" in unknown.json()["ignored"]
    assert queued(redis_client, "committer") == []


def test_a_gitea_merge_continues_the_promotions_run(
    client: TestClient, waiting: PendingPromotion, redis_client
) -> None:
    answer = to_gitea(client, gitea_hook("closed", merged=True))

    assert answer.status_code == 202, answer.text
    assert answer.json() == {"run_id": "run-p1", "merged": True}
    [event] = queued(redis_client, "committer")
    assert isinstance(event, PullRequestClosed) and event.merge_commit_sha == MERGE


def test_a_forged_gitea_hook_is_refused_and_an_opened_one_moves_nothing(
    client: TestClient, waiting: PendingPromotion, redis_client
) -> None:
    forged = to_gitea(client, gitea_hook("closed", merged=True), secret="not-the-secret-at-all")
    opened = to_gitea(client, gitea_hook("opened", merged=False))

    assert forged.status_code == 401 and "X-Gitea-Signature" in forged.json()["detail"]
    assert "only a close moves a promotion" in opened.json()["ignored"]
    assert queued(redis_client, "committer") == []

"""Every git host's webhook route runs the same flow, in-process on a real Redis."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
import redis
from fastapi.testclient import TestClient

from services.common.bus import queue_name
from services.common.settings import Repository, Settings
from services.gateway import gitea, github
from services.gateway.app import create_app
from tests.gateway.reader import READ_TOKEN, READER

SECRET = "webhook-secret-for-tests-0123"
REPO = "acme/microbank"
SHA_A, SHA_B = "a" * 40, "b" * 40


@dataclass(frozen=True)
class Host:
    name: str
    body: Callable[[str, str], bytes]  # (ref, repository) → payload
    headers: Callable[[bytes, str, str], dict[str, str]]  # (body, secret, delivery) → headers
    push_event: dict[str, str]
    other_event: dict[str, str]
    auth_header: str


def _github_body(ref: str, repo: str) -> bytes:
    return json.dumps(
        {"ref": ref, "before": SHA_A, "after": SHA_B, "repository": {"full_name": repo}}
    ).encode()


def _gitlab_body(ref: str, repo: str) -> bytes:
    kind = "tag_push" if ref.startswith("refs/tags/") else "push"
    return json.dumps(
        {
            "object_kind": kind,
            "ref": ref,
            "before": SHA_A,
            "after": SHA_B,
            "user_username": "dana",
            "project": {"path_with_namespace": repo},
        }
    ).encode()


def _gitea_body(ref: str, repo: str) -> bytes:
    return json.dumps(
        {
            "ref": ref,
            "before": SHA_A,
            "after": SHA_B,
            "repository": {"full_name": repo},
            "pusher": {"login": "dana"},
        }
    ).encode()


HOSTS = [
    Host(
        "github",
        _github_body,
        lambda body, secret, delivery: {
            "X-Hub-Signature-256": github.sign(secret, body),
            "X-GitHub-Delivery": delivery,
        },
        {"X-GitHub-Event": "push"},
        {"X-GitHub-Event": "issues"},
        "X-Hub-Signature-256",
    ),
    Host(
        "gitlab",
        _gitlab_body,
        lambda _body, secret, delivery: {"X-Gitlab-Token": secret, "Idempotency-Key": delivery},
        {"X-Gitlab-Event": "Push Hook"},
        {"X-Gitlab-Event": "Issue Hook"},
        "X-Gitlab-Token",
    ),
    Host(
        "gitea",
        _gitea_body,
        lambda body, secret, delivery: {
            "X-Gitea-Signature": gitea.sign(secret, body),
            "X-Gitea-Delivery": delivery,
        },
        {"X-Gitea-Event": "push"},
        {"X-Gitea-Event": "issues"},
        "X-Gitea-Signature",
    ),
]


@pytest.fixture(params=HOSTS, ids=lambda host: host.name)
def host(request: pytest.FixtureRequest) -> Host:
    return request.param


def settings(redis_url: str, tmp_path, **repo: object) -> Settings:
    return Settings(
        redis_url=redis_url,
        workdir=tmp_path,
        repositories=[Repository(name=REPO, url="file:///nowhere", webhook_secret=SECRET, **repo)],
        api_tokens=[READ_TOKEN],
    )


@pytest.fixture
def client(redis_url: str, redis_client: redis.Redis, tmp_path) -> Iterator[TestClient]:
    with TestClient(create_app(settings(redis_url, tmp_path))) as test_client:
        yield test_client


def send(
    client: TestClient,
    host: Host,
    ref: str = "refs/heads/main",
    repo: str = REPO,
    delivery: str = "delivery-1",
    secret: str = SECRET,
    event: dict[str, str] | None = None,
):
    body = host.body(ref, repo)
    headers = {**host.headers(body, secret, delivery), **(event or host.push_event)}
    return client.post(f"/webhooks/{host.name}", content=body, headers=headers)


def queued(redis_client: redis.Redis) -> int:
    return int(redis_client.llen(queue_name("detector")))


def nothing_recorded(redis_client: redis.Redis) -> bool:
    return queued(redis_client) == 0 and redis_client.zcard("shipline:runs") == 0


def test_a_push_is_accepted_and_queued_as_a_run_of_its_provider(client, redis_client, host):
    response = send(client, host)

    assert response.status_code == 202, response.text
    run = client.get(f"/api/v1/runs/{response.json()['run_id']}", headers=READER).json()
    assert (run["provider"], run["repository"], run["commit"]) == (host.name, REPO, SHA_B)
    assert queued(redis_client) == 1


def test_a_wrong_secret_is_refused_with_401_naming_the_header(client, redis_client, host):
    response = send(client, host, secret="another-secret-entirely")

    assert response.status_code == 401
    assert host.auth_header in response.json()["detail"]
    assert nothing_recorded(redis_client)


def test_a_redelivery_answers_200_with_the_first_run_and_queues_nothing(client, redis_client, host):
    first = send(client, host, delivery="same-delivery")

    again = send(client, host, delivery="same-delivery")

    assert again.status_code == 200
    assert again.json() == {"run_id": first.json()["run_id"], "duplicate": True}
    assert queued(redis_client) == 1


def test_events_that_are_not_pushes_are_ignored(client, redis_client, host):
    response = send(client, host, event=host.other_event)

    assert response.status_code == 202 and "ignored" in response.json()
    assert nothing_recorded(redis_client)


def test_by_default_only_the_default_branch_deploys(client, redis_client, host):
    response = send(client, host, ref="refs/heads/feature/login")

    assert response.status_code == 202
    assert "not configured to deploy" in response.json()["ignored"]
    assert nothing_recorded(redis_client)


def test_tags_are_always_passed_on_for_the_detector_to_judge(client, redis_client, host):
    response = send(client, host, ref="refs/tags/v1.0.0")

    assert response.status_code == 202
    assert queued(redis_client) == 1


def test_a_repository_that_is_not_its_own_secrets_is_refused_with_403(client, redis_client, host):
    assert send(client, host, repo="evil/other").status_code == 403
    assert nothing_recorded(redis_client)


def test_configured_branch_globs_decide_which_branches_deploy(
    redis_url, redis_client, tmp_path, host
):
    app = create_app(settings(redis_url, tmp_path, branches=["main", "release/*"]))
    with TestClient(app) as client:
        release = send(client, host, ref="refs/heads/release/2.1", delivery="d-1")
        feature = send(client, host, ref="refs/heads/feature/x", delivery="d-2")

    assert "run_id" in release.json()
    assert "ignored" in feature.json()


def test_the_webhook_answers_503_when_redis_is_down_and_remembers_nothing(tmp_path, host):
    app = create_app(settings("redis://127.0.0.1:1/0", tmp_path))
    with TestClient(app) as client:
        response = send(client, host)

    assert response.status_code == 503
    assert "retry later" in response.json()["detail"]

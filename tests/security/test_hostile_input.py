"""Hostile input, in one place: every request below gets a clear 4xx and nothing is queued,
recorded or run. The gateway runs in-process on a real Redis.

Other events a git host sends to the same hook (issues, stars...) are answered
`202 ignored` rather than 4xx on purpose: GitHub and GitLab mark a hook failing after
repeated 4xx, and a hook that also receives other events is not an attack. Nothing is
queued for them either.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest
import redis
from fastapi.testclient import TestClient

from services.common.bus import queue_name
from services.common.errors import ConfigError
from services.common.project import parse_project
from services.common.settings import STAGES, Repository, Settings
from services.gateway import gitea, gitlab
from services.gateway.app import create_app
from services.gateway.github import sign

SECRET = "hostile-input-secret-0123456789"
OTHER_SECRET = "another-repository-secret-0123456"
TOKEN = "hostile-input-api-token-0123456789"
REPO, OTHER_REPO = "acme/microbank", "acme/payments"
SHA_A, SHA_B = "a" * 40, "b" * 40
LIMIT = 32_000
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def client(redis_url: str, redis_client: redis.Redis, tmp_path) -> Iterator[TestClient]:
    settings = Settings(
        redis_url=redis_url,
        workdir=tmp_path,
        repositories=[
            Repository(name=REPO, url="file:///nowhere/a", webhook_secret=SECRET),
            Repository(name=OTHER_REPO, url="file:///nowhere/b", webhook_secret=OTHER_SECRET),
        ],
        api_tokens=[TOKEN],
        max_body_bytes=LIMIT,
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def nothing_happened(redis_client: redis.Redis) -> bool:
    """No stage queue holds a message, no run was created, no event was logged."""
    return (
        all(redis_client.llen(queue_name(stage)) == 0 for stage in STAGES)
        and redis_client.zcard("shipline:runs") == 0
        and not redis_client.exists("shipline:events")
    )


def push(ref: str = "refs/heads/main", repo: str = REPO, **extra: object) -> bytes:
    payload = {
        "ref": ref,
        "before": SHA_A,
        "after": SHA_B,
        "repository": {"full_name": repo},
        "commits": [{"id": SHA_B, "message": "feat: x", "modified": ["user_service/a.py"]}],
    }
    payload.update(extra)
    return json.dumps(payload).encode()


def github(body: bytes, secret: str | None = SECRET, event: str = "push", delivery: str = "d-1"):
    headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery}
    if secret is not None:
        headers["X-Hub-Signature-256"] = sign(secret, body)
    return headers


def post_github(client: TestClient, body: bytes, **options: object):
    return client.post("/webhooks/github", content=body, headers=github(body, **options))  # type: ignore[arg-type]


def assert_refused(response, status: int, reason: str, redis_client: redis.Redis) -> None:
    assert response.status_code == status, response.text
    assert reason in response.json()["detail"]
    assert response.json()["error"]["status"] == status
    assert nothing_happened(redis_client)


# --- signatures ----------------------------------------------------------------------------


def test_a_push_signed_with_a_wrong_secret_gets_401(client, redis_client):
    response = post_github(client, push(), secret="not-the-secret")
    assert_refused(response, 401, "invalid X-Hub-Signature-256", redis_client)


def test_a_push_without_a_signature_gets_401(client, redis_client):
    response = post_github(client, push(), secret=None)
    assert_refused(response, 401, "missing or invalid X-Hub-Signature-256", redis_client)


def test_a_signature_of_another_body_gets_401(client, redis_client):
    headers = github(push(ref="refs/heads/other"))
    response = client.post("/webhooks/github", content=push(), headers=headers)
    assert_refused(response, 401, "X-Hub-Signature-256", redis_client)


@pytest.mark.parametrize(
    "signature", ["", "sha256=", "sha1=abc", "sha256=" + "0" * 64, "sha256=zz" * 8, "x" * 5000]
)
def test_malformed_signature_headers_get_401(client, redis_client, signature):
    body = push()
    headers = {**github(body), "X-Hub-Signature-256": signature}
    response = client.post("/webhooks/github", content=body, headers=headers)
    assert_refused(response, 401, "X-Hub-Signature-256", redis_client)


@pytest.mark.parametrize(
    ("path", "header", "value"),
    [
        ("/webhooks/gitlab", "X-Gitlab-Token", "wrong-token"),
        ("/webhooks/gitlab", "X-Gitlab-Event", "Push Hook"),  # no token at all
        ("/webhooks/gitea", "X-Gitea-Signature", "0" * 64),
    ],
)
def test_the_other_hosts_refuse_a_wrong_or_missing_secret_with_401(
    client, redis_client, path, header, value
):
    response = client.post(path, content=push(), headers={header: value})
    assert response.status_code == 401
    assert nothing_happened(redis_client)
    assert gitlab.HOST.provider and gitea.HOST.provider  # both hosts are wired


# --- replays -------------------------------------------------------------------------------


def test_a_replayed_delivery_answers_the_first_run_and_queues_nothing_more(client, redis_client):
    body = push()
    first = post_github(client, body, delivery="replayed-1")
    queued_before = redis_client.llen(queue_name("detector"))

    replay = post_github(client, body, delivery="replayed-1")

    assert first.status_code == 202
    assert replay.status_code == 200
    assert replay.json() == {"run_id": first.json()["run_id"], "duplicate": True}
    assert redis_client.llen(queue_name("detector")) == queued_before == 1
    assert redis_client.zcard("shipline:runs") == 1


# --- bodies ----------------------------------------------------------------------------------


def test_a_body_over_the_size_limit_gets_413(client, redis_client):
    body = push(padding="x" * LIMIT)
    assert_refused(post_github(client, body), 413, f"larger than {LIMIT} bytes", redis_client)


def test_a_streamed_body_over_the_limit_without_a_length_gets_413(client, redis_client):
    def chunks() -> Iterator[bytes]:
        for _ in range(10):
            yield b"x" * (LIMIT // 4)

    response = client.post("/webhooks/github", content=chunks(), headers=github(b""))
    assert_refused(response, 413, "larger than", redis_client)


@pytest.mark.parametrize("body", [b"{not json", b"\xff\xfe\x00", b"", b"[1, 2", b"null"])
def test_malformed_json_gets_400_or_422(client, redis_client, body):
    response = post_github(client, body)
    assert response.status_code in (400, 422), response.text
    assert nothing_happened(redis_client)


@pytest.mark.parametrize(
    "body",
    [
        push(before="not-a-sha"),
        push(after="B" * 40),
        json.dumps({"ref": "refs/heads/main"}).encode(),
        push(commits=[{"id": "nope"}]),
        push(repository="acme/microbank"),  # a string, not the repository object
    ],
)
def test_a_push_with_missing_or_invalid_fields_gets_422(client, redis_client, body):
    assert_refused(post_github(client, body), 422, "not a valid GitHub push", redis_client)


def test_other_github_events_are_ignored_and_queue_nothing(client, redis_client):
    response = post_github(client, push(), event="issues")
    assert response.status_code == 202 and "ignored" in response.json()
    assert nothing_happened(redis_client)


def test_an_unknown_event_type_published_by_hand_gets_422(client, redis_client):
    body = {"type": "DropDatabase", "run_id": "r-1"}
    response = client.post("/api/v1/events", json=body, headers=AUTH)
    assert_refused(response, 422, "invalid event", redis_client)


# --- refs and service names ------------------------------------------------------------------

HOSTILE_REFS = [
    "refs/heads/main;rm -rf /",
    "refs/heads/$(reboot)",
    "refs/heads/`id`",
    "refs/heads/a|b",
    "refs/heads/a&&b",
    "refs/heads/../../etc/passwd",
    "refs/heads/main..other",
    "refs/heads/ space",
    "refs/heads/new\nline",
    "--upload-pack=evil",
    "refs/remotes/origin/main",
]


@pytest.mark.parametrize("ref", HOSTILE_REFS)
def test_a_webhook_ref_with_shell_metacharacters_or_dotdot_gets_422(client, redis_client, ref):
    response = post_github(client, push(ref=ref))
    assert response.status_code == 422, response.text
    assert nothing_happened(redis_client)


@pytest.mark.parametrize("ref", HOSTILE_REFS)
def test_a_forced_build_ref_with_shell_metacharacters_or_dotdot_gets_422(client, redis_client, ref):
    body = {"repository": REPO, "ref": ref, "services": ["user-service"]}
    response = client.post("/api/v1/builds", json=body, headers=AUTH)
    assert response.status_code == 422, response.text
    assert nothing_happened(redis_client)


HOSTILE_SERVICES = ["user;reboot", "$(id)", "../etc", "a b", "UPPER", "-leading", "x" * 64, ""]


@pytest.mark.parametrize("service", HOSTILE_SERVICES)
def test_a_forced_build_of_a_service_name_with_metacharacters_gets_422(
    client, redis_client, service
):
    body = {"repository": REPO, "ref": "refs/heads/main", "services": [service]}
    response = client.post("/api/v1/builds", json=body, headers=AUTH)
    assert response.status_code == 422, response.text
    assert nothing_happened(redis_client)


@pytest.mark.parametrize("service", ["user;reboot", "..", "a%2F..%2Fb"])
def test_service_paths_with_metacharacters_are_refused(client, redis_client, service):
    response = client.post(f"/api/v1/services/{service}/unpin", headers=AUTH)
    assert 400 <= response.status_code < 500, response.text
    assert nothing_happened(redis_client)


# --- repositories ----------------------------------------------------------------------------


def test_a_webhook_naming_an_unconfigured_repository_signed_with_a_known_secret_gets_403(
    client, redis_client
):
    response = post_github(client, push(repo="evil/elsewhere"))
    assert_refused(
        response, 403, "repository evil/elsewhere does not use this secret", redis_client
    )


def test_a_webhook_naming_another_configured_repository_gets_403(client, redis_client):
    response = post_github(client, push(repo=OTHER_REPO))  # signed with REPO's secret
    assert_refused(response, 403, f"repository {OTHER_REPO} does not use this secret", redis_client)


def test_a_clone_url_in_the_payload_is_never_passed_on(client, redis_client):
    body = push(repository={"full_name": REPO, "clone_url": "file:///etc/evil.git"})
    response = post_github(client, body)
    assert response.status_code == 202
    [message] = redis_client.lrange(queue_name("detector"), 0, -1)
    queued = base64.b64decode(json.loads(message)["body"])
    assert b"evil" not in queued and REPO.encode() in queued


def test_a_forced_build_of_an_unconfigured_repository_gets_a_4xx(client, redis_client):
    body = {"repository": "evil/elsewhere", "ref": "refs/heads/main", "services": ["api"]}
    response = client.post("/api/v1/builds", json=body, headers=AUTH)
    assert 400 <= response.status_code < 500, response.text
    assert nothing_happened(redis_client)


# --- shipline.yaml paths that escape the repository ------------------------------------------

ESCAPES = [
    ("path", "../outside/"),
    ("path", "/etc/"),
    ("path", "a/../../b/"),
    ("context", "../"),
    ("dockerfile", "/etc/passwd"),
    ("dockerfile", "svc/../../Dockerfile"),
    ("manifest", "../../k8s/deployment.yaml"),
    ("manifest", "k8s/$(id).yaml"),
    ("path", "svc;rm -rf ~/"),
]


@pytest.mark.parametrize(("key", "value"), ESCAPES)
def test_a_shipline_yaml_path_outside_the_repository_is_refused_naming_the_key(key, value):
    service = {"path": "svc/", key: value}
    text = json.dumps({"registry": "127.0.0.1:5000/acme", "services": {"svc": service}})

    with pytest.raises(ConfigError) as refused:
        parse_project(text, origin="acme/microbank@1a2b3c4:shipline.yaml")

    assert "acme/microbank@1a2b3c4:shipline.yaml" in str(refused.value)
    assert "services.svc" in str(refused.value)


@pytest.mark.parametrize("name", ["Svc", "svc;id", "../svc", "svc name"])
def test_a_shipline_yaml_service_name_that_is_not_dns_1123_is_refused(name):
    text = json.dumps({"registry": "127.0.0.1:5000/acme", "services": {name: {"path": "svc/"}}})
    with pytest.raises(ConfigError):
        parse_project(text)

"""POST /api/v1/builds: forced rebuilds, bearer-token authenticated, on a real Redis."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest
import redis
from fastapi.testclient import TestClient

from services.common.bus import queue_name
from services.common.events import BuildRequested, decode_event
from services.common.settings import Repository, Settings
from services.gateway.app import create_app

TOKEN = "api-token-for-tests-0123456789"
OTHER_TOKEN = "a-second-api-token-0123456789"
REPO = "acme/microbank"
COMMIT = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def settings(redis_url: str, tmp_path, tokens: list[str]) -> Settings:
    return Settings(
        redis_url=redis_url,
        workdir=tmp_path,
        api_tokens=tokens,
        repositories=[Repository(name=REPO, url="file:///nowhere", webhook_secret="x" * 20)],
    )


@pytest.fixture
def client(redis_url: str, redis_client: redis.Redis, tmp_path) -> Iterator[TestClient]:
    app = create_app(settings(redis_url, tmp_path, [OTHER_TOKEN, TOKEN]))
    with TestClient(app) as test_client:
        yield test_client


def queued(redis_client: redis.Redis) -> list[BuildRequested]:
    events = []
    for raw in redis_client.lrange(queue_name("detector"), 0, -1):
        args, _kwargs, _embed = json.loads(base64.b64decode(json.loads(raw)["body"]))
        event = decode_event(args[0])
        assert isinstance(event, BuildRequested)
        events.append(event)
    return events


def build(client: TestClient, headers: dict[str, str] | None = None, **body: object):
    payload = {"repository": REPO, "ref": "refs/heads/main", "services": ["user-service"]}
    payload.update(body)
    return client.post("/api/v1/builds", json=payload, headers=AUTH if headers is None else headers)


def test_a_forced_build_starts_a_run_and_queues_the_request_for_the_detector(client, redis_client):
    response = build(client, commit=COMMIT, ref=None, services=["user-service", "frontend"])

    assert response.status_code == 202, response.text
    run_id = response.json()["run_id"]
    [event] = queued(redis_client)
    assert (event.run_id, event.commit, event.services) == (
        run_id,
        COMMIT,
        ("user-service", "frontend"),
    )
    assert event.requested_by == "api-token-2"
    run = client.get(f"/api/v1/runs/{run_id}", headers=AUTH).json()
    assert (run["trigger"], run["provider"], run["status"]) == ("forced", "manual", "queued")
    assert TOKEN not in json.dumps(run)


def test_a_request_without_a_bearer_token_gets_401(client, redis_client):
    response = build(client, headers={})

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert queued(redis_client) == []


@pytest.mark.parametrize("header", [f"Basic {TOKEN}", "Bearer ", TOKEN])
def test_a_malformed_authorization_header_gets_401(client, header):
    assert build(client, headers={"Authorization": header}).status_code == 401


def test_an_unknown_token_gets_403_and_nothing_runs(client, redis_client):
    response = build(client, headers={"Authorization": "Bearer not-a-known-token-000"})

    assert response.status_code == 403
    assert queued(redis_client) == []
    assert redis_client.zcard("shipline:runs") == 0


def test_without_configured_tokens_every_request_is_forbidden(redis_url, redis_client, tmp_path):
    with TestClient(create_app(settings(redis_url, tmp_path, []))) as client:
        assert build(client).status_code == 403


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"ref": None}, "give a commit or a ref"),
        ({"services": []}, "services"),
        ({"services": ["Not_A_Service"]}, "services.0"),
        ({"commit": "HEAD"}, "commit"),
        ({"ref": "main"}, "ref"),
        ({"ref": "refs/heads/../x"}, "ref must not contain '..'"),
        ({"extra": 1}, "extra"),
        ({"repository": "evil/other"}, "repository evil/other is not configured"),
    ],
)
def test_a_bad_request_gets_422_saying_what_is_wrong(client, redis_client, body, detail):
    response = build(client, **body)

    assert response.status_code == 422
    assert detail in response.json()["detail"]
    assert queued(redis_client) == []


def test_a_body_that_is_not_json_gets_400(client):
    response = client.post("/api/v1/builds", content=b"{", headers=AUTH)

    assert response.status_code == 400


def test_a_retried_request_with_the_same_idempotency_key_starts_one_run(client, redis_client):
    headers = {**AUTH, "Idempotency-Key": "rebuild-user-1"}

    first = build(client, headers=headers)
    again = build(client, headers=headers)

    assert again.status_code == 200
    assert again.json() == {"run_id": first.json()["run_id"], "duplicate": True}
    assert len(queued(redis_client)) == 1


def test_requests_without_an_idempotency_key_each_start_a_run(client, redis_client):
    build(client)
    build(client)

    assert len(queued(redis_client)) == 2


def test_a_forced_build_answers_503_when_redis_is_down(tmp_path):
    with TestClient(create_app(settings("redis://127.0.0.1:1/0", tmp_path, [TOKEN]))) as client:
        response = build(client)

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"

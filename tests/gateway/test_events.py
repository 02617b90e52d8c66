"""POST /api/v1/events: any event by hand, on a real Redis (no worker consumes it here)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest
import redis
from fastapi.testclient import TestClient

from services.common.bus import queue_name
from services.common.events import ImagePushed, Source
from services.common.settings import Repository, Settings
from services.gateway.app import create_app

pytestmark = pytest.mark.integration

TOKEN = "api-token-for-events-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
REPO = "acme/microbank"


def redeploy(repository: str = REPO, run_id: str = "redeploy-1") -> ImagePushed:
    return ImagePushed(
        run_id=run_id,
        service="user-service",
        source=Source(repository=repository, commit="d" * 40, ref="refs/heads/main"),
        image_repository="127.0.0.1:5000/microbank/user-service",
        tags=("sha-ddddddd",),
        digest="sha256:" + "e" * 64,
        cached=True,
    )


def scanner_queue(client: redis.Redis) -> list[str]:
    """The event ids waiting on the scanner's queue (Celery body: base64 [args, kwargs, embed])."""
    ids = []
    for raw in client.lrange(queue_name("scanner"), 0, -1):
        args, _, _ = json.loads(base64.b64decode(json.loads(raw)["body"]))
        ids.append(json.loads(args[0])["event_id"])
    return ids


@pytest.fixture
def client(redis_url: str, redis_client: redis.Redis, tmp_path) -> Iterator[TestClient]:
    settings = Settings(
        redis_url=redis_url,
        workdir=tmp_path,
        repositories=[Repository(name=REPO, url="file:///nowhere", webhook_secret="s" * 20)],
        api_tokens=[TOKEN],
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_an_image_pushed_by_hand_is_queued_for_the_scanner_with_its_run(client, redis_client):
    event = redeploy()

    response = client.post("/api/v1/events", content=event.model_dump_json(), headers=AUTH)

    assert response.status_code == 202, response.text
    assert response.json() == {
        "run_id": "redeploy-1",
        "event_id": str(event.event_id),
        "queue": "scanner",
    }
    assert scanner_queue(redis_client) == [str(event.event_id)]
    run = client.get("/api/v1/runs/redeploy-1").json()
    assert run["trigger"] == "manual"
    assert set(run["services"]) == {"user-service"}


def test_the_same_event_published_twice_is_queued_once(client, redis_client):
    body = redeploy().model_dump_json()
    client.post("/api/v1/events", content=body, headers=AUTH)

    again = client.post("/api/v1/events", content=body, headers=AUTH)

    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert len(scanner_queue(redis_client)) == 1


def test_publishing_without_a_token_is_refused_and_queues_nothing(client, redis_client):
    response = client.post("/api/v1/events", content=redeploy().model_dump_json())

    assert response.status_code == 401
    assert scanner_queue(redis_client) == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"type": "Nope", "run_id": "r"}', "does not match any of the expected tags"),
        (b'{"type": "ImagePushed", "run_id": "r"}', "service"),
        (b"not json", "invalid event"),
        (redeploy(repository="evil/other").model_dump_json().encode(), "not configured"),
    ],
)
def test_an_invalid_event_gets_422_with_the_reason_and_queues_nothing(
    client, redis_client, body, reason
):
    response = client.post("/api/v1/events", content=body, headers=AUTH)

    assert response.status_code == 422
    assert reason in response.json()["detail"]
    assert scanner_queue(redis_client) == []


def test_an_event_by_hand_gets_503_with_retry_after_when_redis_is_down(tmp_path):
    settings = Settings(
        redis_url="redis://127.0.0.1:1/0",
        workdir=tmp_path,
        repositories=[Repository(name=REPO, url="file:///nowhere", webhook_secret="s" * 20)],
        api_tokens=[TOKEN],
    )
    with TestClient(create_app(settings)) as client:
        response = client.post("/api/v1/events", content=redeploy().model_dump_json(), headers=AUTH)

    assert response.status_code == 503
    assert "retry later" in response.json()["detail"]
    assert response.headers["Retry-After"] == "5"

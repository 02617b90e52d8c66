"""Who may do what where: every write route of the app, enumerated, refuses a token whose
scopes do not cover it (403 naming the scope needed, nothing queued), so a write route added
without a scope check fails here; a plain string token is refused nowhere."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from fastapi.testclient import TestClient

from services.common.bus import queue_name
from services.common.settings import Repository, Settings
from services.gateway.app import create_app
from tests.security.test_private_reads import concrete, every_route

PLAIN = "write-scopes-plain-token-0123456789"
NARROW = "write-scopes-narrow-token-0123456789"
# A valid request for each write route: the scope check is the only thing left to refuse it.
BODIES: dict[str, object] = {
    "/api/v1/builds": {"repository": "acme/shop", "ref": "refs/heads/main", "services": ["cart"]},
    "/api/v1/deployments": {"service": "cart", "tag": "v1"},
    "/api/v1/rollbacks": {"service": "cart"},
    "/api/v1/services/{service}/unpin": None,
    "/api/v1/promotions": {"service": "cart", "to": "production"},
    "/api/v1/releases": {"tag": "v1.0.0"},
    "/api/v1/events": {
        "type": "BuildRequested",
        "run_id": "by-hand-1",
        "repository": "acme/shop",
        "ref": "refs/heads/main",
        "services": ["cart"],
    },
    "/api/v1/dead-letters/{letter_id}/republish": None,
}
READS = {"/api/v1/stream-tickets"}  # a POST that reads: any token may ask for a ticket
STAGES = ("detector", "builder", "scanner", "committer", "notifier", "verifier")


@pytest.fixture
def client(redis_url: str, tmp_path) -> Iterator[TestClient]:
    settings = Settings(
        redis_url=redis_url,
        workdir=tmp_path,
        api_tokens=[PLAIN, {"token": NARROW, "scopes": ["read", "promote:qa"], "name": "qa"}],
        repositories=[Repository(name="acme/shop", url="file:///nowhere", webhook_secret="x" * 20)],
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def writes(client: TestClient) -> Iterator[tuple[str, str]]:
    for method, path in every_route(client):
        if method != "GET" and not path.startswith("/webhooks/") and path not in READS:
            yield method, path


def test_every_write_route_refuses_a_token_without_its_scope_and_names_the_scope(
    client: TestClient, redis_client: redis.Redis
) -> None:
    let_through = []
    for method, path in writes(client):
        assert path in BODIES, f"{method} {path}: add a valid body to BODIES"
        response = client.request(
            method,
            concrete(path),
            json=BODIES[path],
            headers={"Authorization": f"Bearer {NARROW}"},
        )
        if response.status_code != 403 or "needed" not in response.json()["detail"]:
            let_through.append(f"{method} {path}: {response.status_code} {response.text}")
        assert NARROW not in response.text
    assert let_through == []
    assert all(redis_client.llen(queue_name(stage)) == 0 for stage in STAGES)


def test_a_plain_string_token_is_refused_no_write(client: TestClient) -> None:
    refused = []
    for method, path in writes(client):
        response = client.request(
            method, concrete(path), json=BODIES[path], headers={"Authorization": f"Bearer {PLAIN}"}
        )
        if response.status_code in (401, 403):
            refused.append(f"{method} {path}: {response.text}")
    assert refused == []

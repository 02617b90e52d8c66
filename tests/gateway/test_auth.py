"""Token scopes and public_read through the gateway: who may read, who may write, and how a
browser's EventSource opens a stream (tickets), on a real Redis."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from services.common.settings import Repository, Settings
from services.gateway import stream_tickets
from services.gateway.app import create_app

OPERATOR = "operator-token-0123456789abcdef"
READER = "reader-token-0123456789abcdef"
TOKENS = [OPERATOR, {"token": READER, "scopes": ["read"], "name": "grafana"}]
AS_OPERATOR = {"Authorization": f"Bearer {OPERATOR}"}
AS_READER = {"Authorization": f"Bearer {READER}"}
BUILD = {"repository": "acme/shop", "ref": "refs/heads/main", "services": ["cart"]}


def gateway(redis_url: str, tmp_path, **settings: object) -> TestClient:
    return TestClient(
        create_app(
            Settings(
                redis_url=redis_url,
                workdir=tmp_path,
                api_tokens=TOKENS,
                repositories=[
                    Repository(name="acme/shop", url="file:///nowhere", webhook_secret="x" * 20)
                ],
                **settings,  # type: ignore[arg-type]
            )
        )
    )


@pytest.fixture
def client(redis_url: str, tmp_path) -> Iterator[TestClient]:
    with gateway(redis_url, tmp_path) as test_client:
        yield test_client


def test_a_read_only_token_reads(client):
    assert client.get("/api/v1/runs", headers=AS_READER).status_code == 200
    assert client.get("/metrics", headers=AS_READER).status_code == 200


def test_a_read_only_token_is_refused_on_writes_with_the_reason(client):
    response = client.post("/api/v1/builds", json=BUILD, headers=AS_READER)

    assert response.status_code == 403
    assert response.json()["detail"] == (
        "token grafana may only read (scopes: ['read']); "
        "this endpoint needs a token with scopes [read, write]"
    )


def test_a_plain_string_token_reads_and_writes_as_before_scopes(client):
    assert client.get("/api/v1/runs", headers=AS_OPERATOR).status_code == 200
    assert client.post("/api/v1/builds", json=BUILD, headers=AS_OPERATOR).status_code == 202


def test_an_unknown_token_is_refused_on_reads(client):
    response = client.get("/api/v1/runs", headers={"Authorization": "Bearer not-a-known-token"})

    assert response.status_code == 403
    assert response.json()["detail"] == "the token is not accepted"


def test_public_read_answers_reads_without_a_token_but_not_writes(redis_url, tmp_path):
    with gateway(redis_url, tmp_path, public_read=True) as client:
        assert client.get("/api/v1/runs").status_code == 200
        assert client.get("/metrics").status_code == 200
        assert client.post("/api/v1/builds", json=BUILD).status_code == 401
        assert client.get("/api/v1/dead-letters").status_code == 401  # whole events: a token
        ticket = client.post("/api/v1/stream-tickets", json={"path": "/api/v1/events/stream"})
        assert ticket.json() == {"ticket": None, "url": "/api/v1/events/stream", "expires_in": 0}


def test_a_stream_ticket_opens_the_stream_it_names_and_no_other_path(client):
    path = "/api/v1/runs/r-404/events"
    answer = client.post("/api/v1/stream-tickets", json={"path": path}, headers=AS_READER)
    assert answer.status_code == 200
    ticket = answer.json()
    assert ticket["expires_in"] == stream_tickets.TICKET_SECONDS
    assert ticket["url"] == f"{path}?ticket={ticket['ticket']}"
    assert READER not in ticket["url"]

    opened = client.get(ticket["url"], headers={"Accept": "text/event-stream"})
    assert opened.status_code == 404  # let in: the run does not exist
    assert opened.json()["detail"] == "run r-404 not found"

    for elsewhere in ("/api/v1/runs/other/events", "/api/v1/runs", "/metrics"):
        refused = client.get(f"{elsewhere}?ticket={ticket['ticket']}")
        assert refused.status_code == 401, elsewhere
        assert refused.json()["detail"].startswith("the stream ticket is expired, malformed")


def test_a_ticket_is_refused_once_expired_and_never_opens_a_write(client):
    settings = client.app.state.runtime.settings  # type: ignore[attr-defined]
    path = "/api/v1/runs/r-404/events"
    expired = stream_tickets.mint(settings.api_tokens, 0, path, time.time() - 120)

    response = client.get(f"{path}?ticket={expired}")
    assert response.status_code == 401
    assert response.json()["detail"].startswith("the stream ticket is expired")

    fresh = stream_tickets.mint(settings.api_tokens, 0, "/api/v1/events/stream", time.time())
    build = client.post(f"/api/v1/builds?ticket={fresh}", json=BUILD)
    assert build.status_code == 401


def test_a_stream_ticket_is_only_given_for_an_event_stream(client):
    response = client.post(
        "/api/v1/stream-tickets", json={"path": "/api/v1/dead-letters"}, headers=AS_OPERATOR
    )

    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "body.path"

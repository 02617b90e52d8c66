"""Reads are private by default: every route of the app, enumerated, answers 401 without a
token except the few that hold no data; and the running stack answers the same way."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from services.common.settings import Repository, Settings
from services.gateway.app import create_app
from tests.stack import API_TOKEN, Stack

TOKEN = "private-reads-token-0123456789"
# Public on purpose: probes, signed webhooks, the API's description, the dashboard's shell.
PUBLIC = {
    "/healthz",
    "/readyz",
    "/docs",
    "/docs/assets/{name}",
    "/openapi.json",
    "/",
    "/ui/{asset:path}",
}
NEVER_ENDS = {"/api/v1/events/stream"}  # opened with a token through the stack, below
SAMPLE_PARAMETERS = {
    "run_id": "r-1",
    "service": "cart",
    "letter_id": "builder-0123456789abcdef",
    "asset": "app.js",
    "name": "favicon.png",
}


def concrete(path: str) -> str:
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: SAMPLE_PARAMETERS[m[1]], path)


def every_route(client: TestClient) -> Iterator[tuple[str, str]]:
    """Each method and path the app serves, included routers flattened."""
    for route in iter_route_contexts(client.app.routes):  # type: ignore[attr-defined]
        assert route.path, route
        for method in sorted((route.methods or set()) - {"HEAD"}):
            yield method, route.path


@pytest.fixture
def client(redis_url: str, tmp_path) -> Iterator[TestClient]:
    settings = Settings(
        redis_url=redis_url,
        workdir=tmp_path,
        api_tokens=[TOKEN],
        repositories=[Repository(name="acme/shop", url="file:///nowhere", webhook_secret="x" * 20)],
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_every_route_but_probes_webhooks_docs_and_the_dashboard_shell_needs_a_token(client):
    answered_without_a_token = []
    for method, path in every_route(client):
        response = client.request(method, concrete(path))
        if path in PUBLIC or path.startswith("/webhooks/"):
            continue
        if response.status_code != 401:
            answered_without_a_token.append(f"{method} {path}: {response.status_code}")
        else:
            assert response.headers["www-authenticate"] == "Bearer"
            assert "token" in response.json()["detail"]
    assert answered_without_a_token == []


def test_every_private_route_lets_a_token_through(client):
    refused_with_a_token = []
    for method, path in every_route(client):
        if path in PUBLIC or path.startswith("/webhooks/") or path in NEVER_ENDS:
            continue
        response = client.request(
            method, concrete(path), headers={"Authorization": f"Bearer {TOKEN}"}
        )
        if response.status_code in (401, 403):
            refused_with_a_token.append(f"{method} {path}: {response.text}")
    assert refused_with_a_token == []


def test_the_public_routes_answer_without_a_token(client):
    for path in PUBLIC:
        assert client.get(concrete(path)).status_code == 200, path


def test_a_long_lived_token_in_the_url_is_not_accepted(client):
    response = client.get(f"/api/v1/runs?token={TOKEN}&access_token={TOKEN}&ticket={TOKEN}")

    assert response.status_code == 401


def test_the_running_stack_keeps_runs_metrics_and_streams_from_anonymous_callers(
    stack: Stack,
):
    for path in ("/api/v1/runs", "/api/v1/services", "/metrics", "/api/v1/events/stream"):
        response = httpx.get(f"{stack.api}{path}", timeout=10)
        assert response.status_code == 401, path
        assert response.json()["detail"].startswith("a bearer token with read scope")
    assert httpx.get(f"{stack.api}/", timeout=10).status_code == 200  # the dashboard shell
    assert httpx.get(f"{stack.api}/healthz", timeout=10).status_code == 200

    runs = httpx.get(f"{stack.api}/api/v1/runs", headers=stack.auth, timeout=10)
    assert runs.status_code == 200
    assert "runs" in runs.json()


def test_the_running_stack_opens_an_event_stream_with_a_ticket_and_never_with_the_token(
    stack: Stack,
):
    ticket = httpx.post(
        f"{stack.api}/api/v1/stream-tickets",
        json={"path": "/api/v1/events/stream"},
        headers=stack.auth,
        timeout=10,
    ).json()
    assert API_TOKEN not in ticket["url"]

    with httpx.stream("GET", f"{stack.api}{ticket['url']}", timeout=10) as opened:
        assert opened.status_code == 200
        assert opened.headers["content-type"].startswith("text/event-stream")
    with_the_token = httpx.get(f"{stack.api}/api/v1/events/stream?ticket={API_TOKEN}", timeout=10)
    assert with_the_token.status_code == 401

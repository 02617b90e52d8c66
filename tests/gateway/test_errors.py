"""Every refusal and failure of the API in one format, and the bearer token on writes."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
import redis
from fastapi.testclient import TestClient

from services.common.settings import Repository, Settings
from services.gateway.app import create_app

TOKEN = "api-token-for-tests-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
BUILD = {"repository": "acme/shop", "ref": "refs/heads/main", "services": ["cart"]}


def settings(redis_url: str, tmp_path, tokens: list[str]) -> Settings:
    return Settings(
        redis_url=redis_url,
        workdir=tmp_path,
        api_tokens=tokens,
        max_body_bytes=1000,
        repositories=[Repository(name="acme/shop", url="file:///nowhere", webhook_secret="x" * 20)],
    )


@pytest.fixture
def client(redis_url: str, redis_client: redis.Redis, tmp_path) -> Iterator[TestClient]:
    with TestClient(create_app(settings(redis_url, tmp_path, [TOKEN]))) as test_client:
        yield test_client


def test_an_http_refusal_carries_the_error_object_and_the_backwards_compatible_detail(client):
    response = client.get("/api/v1/runs/no-such-run", headers=AUTH)

    assert response.status_code == 404
    assert response.json() == {
        "detail": "run no-such-run not found",
        "error": {"status": 404, "reason": "run no-such-run not found"},
    }


def test_an_unknown_path_is_a_404_in_the_same_format(client):
    response = client.get("/api/v1/nothing-here", headers=AUTH)

    assert response.status_code == 404
    assert response.json()["error"]["status"] == 404


def test_an_invalid_query_parameter_gets_422_naming_the_field_and_why(client):
    response = client.get("/api/v1/runs", params={"limit": "many"}, headers=AUTH)

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["status"] == 422
    assert error["details"] == [
        {
            "field": "query.limit",
            "reason": "Input should be a valid integer, unable to parse string as an integer",
        }
    ]
    assert response.json()["detail"] == error["reason"]
    assert "query.limit" in error["reason"]


def test_a_write_without_a_token_gets_401_with_a_bearer_challenge(client):
    response = client.post("/api/v1/builds", json=BUILD)

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"] == {
        "status": 401,
        "reason": "a bearer token with read scope is required (api_tokens)",
    }


def test_a_write_with_an_unknown_token_gets_403(client):
    response = client.post("/api/v1/builds", json=BUILD, headers={"Authorization": "Bearer nope"})

    assert response.status_code == 403
    assert response.json()["error"]["reason"] == "the token is not accepted"


def test_a_body_over_the_limit_gets_413_in_the_same_format(client):
    response = client.post(
        "/api/v1/builds",
        content=b"{" + b" " * 2000 + b"}",
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )

    assert response.status_code == 413
    assert response.json()["error"] == {"status": 413, "reason": "body larger than 1000 bytes"}


def test_redis_unreachable_is_a_503_saying_so_with_retry_after_and_no_address(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    app = create_app(settings(f"redis://127.0.0.1:{port}/0", tmp_path, [TOKEN]))

    with TestClient(app, raise_server_exceptions=False) as unreachable:
        response = unreachable.get("/api/v1/runs", headers=AUTH)

    assert response.status_code == 503
    assert response.json()["error"]["status"] == 503
    assert "unavailable; retry later" in response.json()["detail"]
    assert response.headers["retry-after"] == "5"
    assert str(port) not in response.text


def test_an_unexpected_failure_is_a_500_that_names_none_of_the_internals(
    redis_url, redis_client, tmp_path
):
    app = create_app(settings(redis_url, tmp_path, [TOKEN]))

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError(f"secret internals at {redis_url}")

    app.state.runtime.runs.newest_first = broken
    with TestClient(app, raise_server_exceptions=False) as failing:
        response = failing.get("/api/v1/runs", headers=AUTH)

    assert response.status_code == 500
    assert response.json()["error"]["status"] == 500
    assert "internals" not in response.text and redis_url not in response.text


def test_the_openapi_document_and_docs_are_served_with_the_bearer_scheme(client):
    spec = client.get("/openapi.json").json()
    docs = client.get("/docs")

    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert spec["paths"]["/api/v1/builds"]["post"]["security"] == [{"HTTPBearer": []}]
    assert spec["paths"]["/api/v1/runs"]["get"]["security"] == [{"HTTPBearer": []}]
    assert "security" not in spec["paths"]["/healthz"]["get"]

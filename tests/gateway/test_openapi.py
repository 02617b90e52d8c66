"""The OpenAPI document describes what every operation answers: a schema for each JSON
success body, the media type of every other one, and the one error format for refusals."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CONTENT_TYPE_LATEST

from services.common.settings import Settings
from services.gateway.api_models import ApiError
from services.gateway.app import create_app

JSON = "application/json"


@pytest.fixture
def client(tmp_path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(workdir=tmp_path, public_read=True))) as test_client:
        yield test_client


@pytest.fixture
def spec(client) -> dict[str, Any]:
    document: dict[str, Any] = client.get("/openapi.json").json()
    return document


def operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            yield method, path, operation


def resolved(schema: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def describes_a_body(schema: dict[str, Any], spec: dict[str, Any]) -> bool:
    """A model's fields, or a choice between models: more than "some JSON"."""
    schema = resolved(schema, spec)
    choices = schema.get("anyOf") or schema.get("oneOf")
    if choices:
        return all(describes_a_body(choice, spec) for choice in choices)
    return bool(schema.get("properties"))


def undescribed(operation: dict[str, Any], spec: dict[str, Any]) -> list[str]:
    """What is missing from the operation's success answers (nothing: an empty list)."""
    successes = {code: r for code, r in operation["responses"].items() if code.startswith("2")}
    if not successes:
        return ["no 2xx answer"]
    missing = []
    for code, response in successes.items():
        content = response.get("content") or {}
        if not content:
            missing.append(f"{code}: no media type")
        if JSON in content and not describes_a_body(content[JSON].get("schema") or {}, spec):
            missing.append(f"{code}: {JSON} without a model")
    return missing


def test_every_success_answer_has_a_model_or_a_media_type(spec):
    missing = {
        f"{method.upper()} {path}": undescribed(operation, spec)
        for method, path, operation in operations(spec)
    }

    assert {name: gaps for name, gaps in missing.items() if gaps} == {}
    assert len(missing) >= 15


@pytest.mark.parametrize(
    ("method", "path", "codes"),
    [
        ("post", "/webhooks/github", {"200", "202"}),
        ("post", "/webhooks/gitlab", {"200", "202"}),
        ("post", "/webhooks/gitea", {"200", "202"}),
        ("post", "/api/v1/builds", {"200", "202"}),
        ("post", "/api/v1/events", {"200", "202"}),
        ("post", "/api/v1/dead-letters/{letter_id}/republish", {"202"}),
        ("post", "/api/v1/stream-tickets", {"200"}),
        ("post", "/api/v1/releases", {"200", "202"}),
        ("post", "/api/v1/deployments", {"202"}),
        ("post", "/api/v1/rollbacks", {"202"}),
        ("post", "/api/v1/services/{service}/unpin", {"202"}),
    ],
)
def test_writes_document_the_status_they_answer_with(spec, method, path, codes):
    responses = spec["paths"][path][method]["responses"]

    assert {code for code in responses if code.startswith("2")} == codes


@pytest.mark.parametrize(
    ("path", "media_type"),
    [
        ("/metrics", CONTENT_TYPE_LATEST),
        ("/api/v1/events/stream", "text/event-stream"),
        ("/api/v1/runs/{run_id}/services/{service}/build-log", "text/plain"),
        ("/api/v1/runs/{run_id}/services/{service}/scan", "application/sarif+json"),
    ],
)
def test_answers_that_are_not_json_name_their_media_type(spec, path, media_type):
    assert media_type in spec["paths"][path]["get"]["responses"]["200"]["content"]


def test_every_operation_documents_refusals_in_the_error_format(spec):
    error_format = {"$ref": "#/components/schemas/ApiError"}
    for method, path, operation in operations(spec):
        refusals = {c: r for c, r in operation["responses"].items() if c.startswith("4")}

        assert "4XX" in refusals, (method, path)
        for code, refusal in refusals.items():
            assert refusal["content"][JSON]["schema"] == error_format, (method, path, code)
    assert "HTTPValidationError" not in spec["components"]["schemas"]


def test_a_refusal_and_a_validation_error_have_the_documented_shape(client):
    not_found = client.get("/api/v1/nothing-here")
    invalid = client.get("/api/v1/delivery-metrics", params={"days": "many"})

    assert not_found.status_code == 404
    assert ApiError.model_validate(not_found.json()).error.status == 404
    assert invalid.status_code == 422
    error = ApiError.model_validate(invalid.json()).error
    assert error.details and error.details[0].field == "query.days"

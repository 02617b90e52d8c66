"""API fuzzing: schemathesis drives every operation of the gateway's OpenAPI schema
(in-process ASGI, real Redis) and no answer may be a 5xx. Then raw bodies (random JSON,
random bytes) hit every endpoint that reads one, since those take the body unparsed and
the schema cannot describe it.

Bounded for CI: a few examples per operation and a fixed seed (derandomize), so a failure
reproduces and the run takes seconds.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.common.settings import Repository, Settings
from services.demo.scenario import SampleMonorepo
from services.gateway.app import create_app

TOKEN = "fuzzing-api-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
BOUNDED = settings(
    max_examples=8,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
STREAMING = r".*/stream$"  # live server-sent events: answered, but never end by themselves


def gateway(redis_url: str, workdir: Path) -> FastAPI:
    """The gateway, accepting a real monorepo (a bare remote on disk)."""
    sample = SampleMonorepo(workdir, name="acme/microbank")
    if not sample.remote.exists():
        sample.create("127.0.0.1:5000/microbank", "busybox:fuzz")
    return create_app(
        Settings(
            redis_url=redis_url,
            workdir=workdir / "state",
            repositories=[Repository(name=sample.name, url=sample.url, webhook_secret="f" * 24)],
            api_tokens=[TOKEN],
            max_body_bytes=16_000,
        )
    )


def operations(redis_url: str, workdir: Path) -> list:
    schema = schemathesis.openapi.from_asgi("/openapi.json", gateway(redis_url, workdir))
    return [result.ok() for result in schema.exclude(path_regex=STREAMING).get_all_operations()]


def test_no_operation_of_the_openapi_schema_answers_a_5xx(redis_url, redis_client, tmp_path):
    tried = []
    for operation in operations(redis_url, tmp_path):

        @BOUNDED
        @given(case=operation.as_strategy())
        def call(case) -> None:
            response = case.call(headers=AUTH)
            assert response.status_code < 500, (case.method, case.formatted_path, response.text)

        call()
        tried.append(f"{operation.method.upper()} {operation.path}")
    assert len(tried) >= 20, tried


# --- raw bodies ------------------------------------------------------------------------------

BODY_ENDPOINTS = [
    "/webhooks/github",
    "/webhooks/gitlab",
    "/webhooks/gitea",
    "/api/v1/builds",
    "/api/v1/events",
    "/api/v1/releases",
    "/api/v1/deployments",
    "/api/v1/rollbacks",
]
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
EVENT_TYPES = st.sampled_from(["PushReceived", "ImagePushed", "ScanPassed", "RunCompleted", "X"])


@pytest.fixture
def client(redis_url: str, redis_client: redis.Redis, tmp_path) -> Iterator[TestClient]:
    with TestClient(gateway(redis_url, tmp_path)) as test_client:
        yield test_client


@pytest.mark.parametrize("path", BODY_ENDPOINTS)
def test_random_json_and_bytes_posted_to_any_body_endpoint_never_get_a_5xx(client, path):
    @BOUNDED
    @given(
        body=JSON_VALUES.map(lambda v: json.dumps(v).encode()) | st.binary(max_size=200),
        event=st.sampled_from(["push", "Push Hook", "ping", "issues", ""]),
    )
    def post(body: bytes, event: str) -> None:
        headers = {**AUTH, "X-GitHub-Event": event, "X-Gitlab-Event": event}
        response = client.post(path, content=body, headers=headers)
        assert response.status_code < 500, (path, body, response.text)

    post()


def test_event_shaped_json_published_by_hand_never_gets_a_5xx(client):
    @BOUNDED
    @given(
        kind=EVENT_TYPES,
        fields=st.dictionaries(
            st.sampled_from(["run_id", "service", "source", "digest", "tags", "event_id"]),
            JSON_VALUES,
        ),
    )
    def post(kind: str, fields: dict) -> None:
        response = client.post("/api/v1/events", json={"type": kind, **fields}, headers=AUTH)
        assert response.status_code < 500, response.text

    post()

"""What the dashboard reads besides the runs API: build log tails, delivery metrics and each
run's commit message; in-process, on a real Redis."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient

from services.builder.logs import BuildLog, build_log_path
from services.common.events import ManifestCommitted, PushedCommit, PushReceived, Source
from services.common.runtime import Runtime
from services.common.settings import Settings
from services.gateway.app import create_app
from tests.gateway.reader import READ_TOKEN, READER

RUN = "20261128190000-0a1b2c3d"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def runtime(redis_url: str, redis_client: redis.Redis, tmp_path: Path) -> Runtime:
    runtime = Runtime(Settings(redis_url=redis_url, workdir=tmp_path, api_tokens=[READ_TOKEN]))
    runtime.runs.create(RUN, trigger="push")
    return runtime


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime.settings, runtime), headers=READER) as test_client:
        yield test_client


def push() -> PushReceived:
    return PushReceived(
        run_id=RUN,
        provider="github",
        delivery_id="d-1",
        repository="acme/microbank",
        ref="refs/heads/main",
        before="a" * 40,
        after=COMMIT,
        commits=(
            PushedCommit(id="b" * 40, message="chore: earlier"),
            PushedCommit(id=COMMIT, message="feat(cart): one-click checkout\n\nLong body."),
        ),
    )


def test_the_build_log_tail_is_the_last_lines_the_builder_wrote(client, runtime):
    path = build_log_path(runtime.settings.workdir, RUN, "cart")
    with BuildLog(path, "build cart") as log:
        for n in range(1, 101):
            log.write(f"step {n}")

    response = client.get(f"/api/v1/runs/{RUN}/services/cart/build-log", params={"lines": 3})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    lines = response.text.splitlines()
    assert len(lines) == 3
    assert lines[-1].endswith("step 100") and lines[0].endswith("step 98")


def test_a_missing_build_log_or_run_is_a_404(client):
    assert client.get(f"/api/v1/runs/{RUN}/services/cart/build-log").status_code == 404
    assert client.get("/api/v1/runs/nope/services/cart/build-log").status_code == 404
    assert client.get(f"/api/v1/runs/{RUN}/services/Bad_Name/build-log").status_code == 422


def test_a_push_runs_subject_is_its_head_commits_first_line(client, runtime):
    runtime.runs.apply(push())

    run = client.get(f"/api/v1/runs/{RUN}").json()

    assert run["message"] == "feat(cart): one-click checkout"


def test_delivery_metrics_are_computed_from_the_logged_events(client, runtime):
    runtime.event_log.append(push())
    runtime.event_log.append(
        ManifestCommitted(
            run_id=RUN,
            service="cart",
            source=Source(repository="acme/microbank", commit=COMMIT, ref="refs/heads/main"),
            manifest_path="k8s/cart.yaml",
            old_image="r/cart:v1",
            new_image="r/cart:v2",
            gitops_repository="acme/microbank",
            gitops_commit="f" * 40,
            branch="main",
        )
    )

    response = client.get("/api/v1/delivery-metrics", params={"days": 7})

    assert response.status_code == 200, response.text
    report = response.json()
    assert report["window"]["days"] == 7
    assert report["overall"]["deployments"] == 1
    assert report["services"]["cart"]["lead_time"]["count"] == 1
    assert report["services"]["cart"]["change_failure"] == {"changes": 1, "failed": 0, "rate": 0.0}


def test_the_delivery_metrics_window_is_validated(client):
    assert client.get("/api/v1/delivery-metrics", params={"days": 0}).status_code == 422
    assert client.get("/api/v1/delivery-metrics", params={"days": 1000}).status_code == 422

"""GET /metrics: runs by outcome, stage durations and queue depths, read from a real Redis."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from services.common.bus import queue_name
from services.common.pins import PinStore
from services.common.runs import RunStore
from services.common.service_inventory import InventoryStore, ServiceRow, Survey
from services.gateway.app import create_app
from tests.gateway.reader import READ_TOKEN, READER, shop_settings
from tests.gateway.runs_data import build_failed, deployed, started_run


@pytest.fixture
def client(redis_url: str, redis_client: redis.Redis, tmp_path) -> Iterator[TestClient]:
    settings = shop_settings(redis_url, tmp_path, api_tokens=[READ_TOKEN])
    with TestClient(create_app(settings), headers=READER) as test_client:
        yield test_client


def samples(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def test_finished_runs_are_counted_by_outcome_and_each_only_once(client, redis_client):
    runs = RunStore(redis_client)
    for run_id in ("ok-1", "ok-2"):
        started_run(runs, run_id, ["cart"])
        deployed(runs, run_id, "cart")
    started_run(runs, "bad", ["cart"])
    build_failed(runs, "bad", "cart")
    started_run(runs, "busy", ["cart"])

    first = samples(client)
    second = samples(client)

    for seen in (first, second):
        assert seen[("shipline_runs_total", (("outcome", "succeeded"),))] == 2
        assert seen[("shipline_runs_total", (("outcome", "failed"),))] == 1
        assert seen[("shipline_runs_in_progress", (("status", "running"),))] == 1


def test_stage_durations_are_a_histogram_per_stage(client, redis_client):
    runs = RunStore(redis_client)
    started_run(runs, "r1", ["cart", "payments"])
    deployed(runs, "r1", "cart")
    deployed(runs, "r1", "payments")

    seen = samples(client)

    builder = (("stage", "builder"),)
    assert seen[("shipline_stage_duration_seconds_count", builder)] == 2
    assert seen[("shipline_stage_duration_seconds_bucket", (("le", "+Inf"), *builder))] == 2
    assert seen[("shipline_stage_duration_seconds_sum", builder)] >= 0
    assert seen[("shipline_stage_duration_seconds_count", (("stage", "committer"),))] == 2


def test_queue_depths_are_the_length_of_every_stages_queue(client, redis_client):
    redis_client.rpush(queue_name("builder"), "task-1", "task-2", "task-3")

    seen = samples(client)

    assert seen[("shipline_queue_depth", (("stage", "builder"),))] == 3
    assert seen[("shipline_queue_depth", (("stage", "scanner"),))] == 0


def test_services_behind_are_counted_per_repository_a_pinned_one_left_out(client, redis_client):
    rows = [
        ServiceRow(
            service=name,
            image=f"r/{name}:x",
            manifest=f"k8s/{name}.yaml",
            gitops_repository="acme/shop",
            gitops_commit="g" * 40,
            image_repository=f"r/{name}",
            deployed_commit="a" * 40,
            desired_commit=("b" if behind else "a") * 40,
            behind_by=behind,
        )
        for name, behind in (("cart", 3), ("payments", 1), ("search", 0), ("auth", 2))
    ]
    InventoryStore(redis_client).record(Survey(repository="acme/shop", services=tuple(rows)))
    PinStore(redis_client).pin("acme/shop", "auth", "r/auth:v1", "ops", "rb-1")

    seen = samples(client)

    assert seen[("shipline_services_behind", (("repository", "acme/shop"),))] == 2

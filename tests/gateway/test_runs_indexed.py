"""The runs and services API over a long history, from the run indexes, on a real Redis:
the answers of the scan they replace, found however far back, reading a page's runs only."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
from fastapi.testclient import TestClient

from services.common.keyspace import DEFAULT_KEYSPACE as KEYS
from services.common.run_index import RunIndex
from services.common.runs import RunStore
from services.common.service_inventory import InventoryStore, ServiceRow, Survey
from services.gateway.app import create_app
from services.gateway.inventory import RUNS_SEARCHED
from tests.gateway.reader import shop_settings
from tests.gateway.runs_data import (
    REGISTRY,
    REPOSITORY,
    build_failed,
    deployed,
    started_run,
    three_outcomes,
)

WRITER_TOKEN = "a-writing-api-token-0123456789"
WRITER = {"Authorization": f"Bearer {WRITER_TOKEN}"}


@pytest.fixture
def runs(redis_client: redis.Redis) -> RunStore:
    return RunStore(redis_client)


@pytest.fixture
def api(redis_url: str, redis_client: redis.Redis, tmp_path) -> Iterator[TestClient]:
    settings = shop_settings(redis_url, tmp_path, public_read=True)
    with TestClient(create_app(settings)) as client:
        yield client


def surveyed(redis_client: redis.Redis, *services: str) -> None:
    rows = tuple(
        ServiceRow(
            service=service,
            image=f"{REGISTRY}/{service}:sha-ccccccc",
            manifest=f"k8s/{service}.yaml",
            gitops_repository=REPOSITORY,
            gitops_commit="d" * 40,
            image_repository=f"{REGISTRY}/{service}",
        )
        for service in services
    )
    InventoryStore(redis_client).record(Survey(repository=REPOSITORY, services=rows))


def planned_runs(runs: RunStore, count: int, service_of, prefix: str = "r") -> None:
    """`count` runs through the store (created, planned), run n for service_of(n)."""

    def one(n: int) -> None:
        run_id = f"{prefix}-{n:05d}"
        runs.create(run_id, trigger="push", repository=REPOSITORY, commit="c" * 40)
        runs.plan(run_id, [service_of(n)])

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(count)))


def indexed(redis_client: redis.Redis) -> None:
    """As the reconciler does once: every run indexed, and recorded."""
    index = RunIndex(redis_client, KEYS)
    while index.rebuild_step(1000) is not None:
        pass


def calls(redis_client: redis.Redis, command: str) -> int:
    return int(redis_client.info("commandstats").get(f"cmdstat_{command}", {}).get("calls", 0))


def test_a_service_whose_last_run_is_older_than_the_newest_1000_is_still_found(
    api, runs, redis_client
):
    started_run(runs, "cart-run", ["cart"])
    deployed(runs, "cart-run", "cart")
    planned_runs(runs, RUNS_SEARCHED + 1, lambda n: "payments")
    surveyed(redis_client, "cart", "payments")

    scanned = {row["service"]: row for row in api.get("/api/v1/services").json()["services"]}
    assert scanned["cart"]["last_run"] is None  # the scan it replaces stops at RUNS_SEARCHED

    indexed(redis_client)
    services = api.get("/api/v1/services").json()["services"]
    rows = {row["service"]: row for row in services}
    assert rows["cart"]["last_run"]["run_id"] == "cart-run"
    assert rows["cart"]["last_run"]["status"] == "succeeded"
    assert rows["payments"]["last_run"]["run_id"] == f"r-{RUNS_SEARCHED:05d}"
    answer = api.get("/api/v1/runs", params={"service": "cart"}).json()
    assert [run["run_id"] for run in answer["runs"]] == ["cart-run"]


def test_the_filters_answer_the_same_from_the_indexes_as_from_the_scan(api, runs, redis_client):
    three_outcomes(runs)
    queries = [
        {"service": "cart"},
        {"service": "payments", "limit": "1"},
        {"status": "failed"},
        {"status": "running"},
        {"service": "payments", "status": "running"},
        {"service": "cart", "status": "succeeded"},
        {"limit": "2"},
    ]
    scanned = [api.get("/api/v1/runs", params=q).json() for q in queries]

    indexed(redis_client)

    assert [api.get("/api/v1/runs", params=q).json() for q in queries] == scanned


def test_a_run_the_intake_starts_is_queued_in_its_repositorys_index_at_once(
    redis_url, redis_client, tmp_path
):
    settings = shop_settings(redis_url, tmp_path, api_tokens=[WRITER_TOKEN])
    indexed(redis_client)
    with TestClient(create_app(settings), headers=WRITER) as client:
        body = {"repository": REPOSITORY, "ref": "refs/heads/main", "services": ["cart"]}
        started = client.post("/api/v1/builds", json=body)
        assert started.status_code == 202, started.text
        run_id = started.json()["run_id"]

        queued = client.get("/api/v1/runs", params={"status": "queued"}).json()

    assert [run["run_id"] for run in queued["runs"]] == [run_id]
    created = float(redis_client.hget(KEYS.run(run_id), "created_at"))
    assert redis_client.zscore(KEYS.runs_by_repository(REPOSITORY), run_id) == created
    assert redis_client.zscore(KEYS.runs_by_status("queued"), run_id) == created


def test_a_10000_run_history_answers_a_services_runs_reading_only_a_page_of_runs(
    api, runs, redis_client
):
    planned_runs(runs, 10_000, lambda n: f"svc-{n % 200:03d}")
    indexed(redis_client)
    before = calls(redis_client, "hgetall")

    answer = api.get("/api/v1/runs", params={"service": "svc-007", "limit": "5"}).json()

    assert [run["run_id"] for run in answer["runs"]] == [
        f"r-{n:05d}" for n in (9807, 9607, 9407, 9207, 9007)
    ]
    assert answer["next_cursor"] is not None
    # a run and its one service each: the page's 5 runs and the one that says there is more
    assert calls(redis_client, "hgetall") - before == 2 * 6
    before = calls(redis_client, "hgetall")
    running = api.get("/api/v1/runs", params={"status": "running", "limit": "3"}).json()
    assert len(running["runs"]) == 3
    assert calls(redis_client, "hgetall") - before == 2 * 4


def test_a_metrics_scrape_reads_only_the_runs_settled_since_the_last_one(api, runs, redis_client):
    for n in range(5):
        started_run(runs, f"old-{n}", ["cart"])
        deployed(runs, f"old-{n}", "cart")
    started_run(runs, "running", ["cart"])
    indexed(redis_client)
    first = api.get("/metrics").text
    assert 'shipline_runs_total{outcome="succeeded"} 5.0' in first
    assert 'shipline_runs_in_progress{status="running"} 1.0' in first

    started_run(runs, "new", ["cart"])
    build_failed(runs, "new", "cart")
    before = calls(redis_client, "hgetall")
    second = api.get("/metrics").text

    assert calls(redis_client, "hgetall") - before == 2  # the one new run and its service
    assert 'shipline_runs_total{outcome="succeeded"} 5.0' in second
    assert 'shipline_runs_total{outcome="failed"} 1.0' in second
    assert 'shipline_runs_in_progress{status="running"} 1.0' in second

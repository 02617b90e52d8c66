"""GET /api/v1/runs (filters, paging) and a run's timeline, on a real Redis."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import redis
from fastapi.testclient import TestClient

from services.common.runs import RunStore
from services.gateway.app import create_app
from tests.gateway.reader import READ_TOKEN, READER, shop_settings
from tests.gateway.runs_data import build_failed, deployed, started_run, three_outcomes


@pytest.fixture
def runs(redis_client: redis.Redis) -> RunStore:
    return RunStore(redis_client)


@pytest.fixture
def client(redis_url: str, redis_client: redis.Redis, tmp_path) -> Iterator[TestClient]:
    settings = shop_settings(redis_url, tmp_path, api_tokens=[READ_TOKEN])
    with TestClient(create_app(settings), headers=READER) as test_client:
        yield test_client


def ids(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [run["run_id"] for run in response.json()["runs"]]


def test_runs_are_listed_newest_first(client, runs):
    for run_id in ("r1", "r2", "r3"):
        started_run(runs, run_id, ["cart"])

    assert ids(client.get("/api/v1/runs")) == ["r3", "r2", "r1"]


def test_runs_are_filtered_by_service_and_by_status(client, runs):
    three_outcomes(runs)

    assert ids(client.get("/api/v1/runs", params={"service": "cart"})) == [
        "both-failed",
        "cart-ok",
    ]
    assert ids(client.get("/api/v1/runs", params={"status": "failed"})) == ["both-failed"]
    assert ids(client.get("/api/v1/runs", params={"service": "payments", "status": "running"})) == [
        "payments-running"
    ]


def test_since_takes_an_iso_time_or_seconds_since_the_epoch(client, runs):
    started_run(runs, "before", ["cart"])
    time.sleep(0.01)
    boundary = time.time()
    started_run(runs, "after", ["cart"])
    iso = datetime.fromtimestamp(boundary, UTC).isoformat()

    assert ids(client.get("/api/v1/runs", params={"since": str(boundary)})) == ["after"]
    assert ids(client.get("/api/v1/runs", params={"since": iso})) == ["after"]


def test_a_since_that_is_no_time_gets_422_saying_what_is_expected(client):
    response = client.get("/api/v1/runs", params={"since": "yesterday"})

    assert response.status_code == 422
    assert "since: expected an ISO 8601 time" in response.json()["error"]["reason"]


def test_pages_follow_the_cursor_until_there_is_none_and_never_repeat_a_run(client, runs):
    for n in range(7):
        started_run(runs, f"r{n}", ["cart"])
    seen: list[str] = []
    cursor = None

    for _ in range(4):
        params = {"limit": "3"} | ({"cursor": cursor} if cursor else {})
        page = client.get("/api/v1/runs", params=params).json()
        seen += [run["run_id"] for run in page["runs"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert seen == [f"r{n}" for n in range(6, -1, -1)]


def test_paging_applies_after_the_filters(client, runs):
    for n in range(4):
        started_run(runs, f"cart-{n}", ["cart"])
        started_run(runs, f"other-{n}", ["payments"])

    first = client.get("/api/v1/runs", params={"service": "cart", "limit": "2"}).json()
    second = client.get(
        "/api/v1/runs", params={"service": "cart", "limit": "2", "cursor": first["next_cursor"]}
    ).json()

    assert [r["run_id"] for r in first["runs"] + second["runs"]] == [
        "cart-3",
        "cart-2",
        "cart-1",
        "cart-0",
    ]
    assert second["next_cursor"] is None


def test_a_cursor_the_api_never_gave_gets_422(client):
    response = client.get("/api/v1/runs", params={"cursor": "!!!"})

    assert response.status_code == 422
    assert "cursor" in response.json()["detail"]


def test_a_run_has_a_timeline_of_every_stage_per_service_in_order(client, runs):
    started_run(runs, "r1", ["cart", "payments"])
    deployed(runs, "r1", "cart")
    build_failed(runs, "r1", "payments")

    run = client.get("/api/v1/runs/r1").json()

    cart, payments = run["timeline"]["cart"], run["timeline"]["payments"]
    assert [s["stage"] for s in cart] == ["detector", "builder", "scanner", "committer"]
    assert [s["state"] for s in cart] == ["done", "done", "done", "succeeded"]
    for stage in cart:
        assert stage["finished"] >= stage["started"]
        assert stage["seconds"] == round(stage["finished"] - stage["started"], 3)
    assert [s["started"] for s in cart] == sorted(s["started"] for s in cart)
    assert [(s["stage"], s["state"]) for s in payments] == [
        ("detector", "done"),
        ("builder", "failed"),
    ]


def test_the_timeline_keeps_the_public_fields_of_a_run(client, runs):
    started_run(runs, "r1", ["cart"])
    deployed(runs, "r1", "cart")

    run = client.get("/api/v1/runs/r1").json()

    assert run["status"] == "succeeded"
    cart = run["services"]["cart"]
    assert (cart["status"], cart["image"], cart["digest"]) == (
        "succeeded",
        "127.0.0.1:5000/shop/cart:sha-ccccccc",
        "sha256:" + "ab" * 32,
    )
    assert "timings" in cart


def test_a_stage_still_running_has_no_finish_yet(client, runs):
    started_run(runs, "r1", ["cart"])
    runs.stage_started("r1", "cart", "builder")

    [detector, builder] = client.get("/api/v1/runs/r1").json()["timeline"]["cart"]

    assert detector["state"] == "done"
    assert (builder["state"], builder["finished"], builder["seconds"]) == ("running", None, None)

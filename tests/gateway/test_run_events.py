"""GET /api/v1/runs/{id}/events: JSON by default, live server-sent events on request,
served by uvicorn on a real Redis."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import redis

from services.common.eventlog import EventLog
from services.common.events import RunCompleted, ServiceOutcome
from services.common.runs import RunStore
from services.common.settings import Repository, Settings
from services.gateway.app import create_app
from tests.api_server import serving
from tests.gateway.runs_data import built, started_run

pytestmark = pytest.mark.integration
SSE = {"Accept": "text/event-stream"}


@pytest.fixture
def api_url(redis_url: str, redis_client: redis.Redis, tmp_path) -> Iterator[str]:
    settings = Settings(
        redis_url=redis_url,
        workdir=tmp_path,
        repositories=[Repository(name="acme/shop", url="file:///nowhere", webhook_secret="x" * 20)],
    )
    with serving(create_app(settings)) as url:
        yield url


@pytest.fixture
def log(redis_client: redis.Redis) -> EventLog:
    return EventLog(redis_client)


@pytest.fixture
def runs(redis_client: redis.Redis) -> RunStore:
    return RunStore(redis_client)


def completed(run_id: str) -> RunCompleted:
    return RunCompleted(
        run_id=run_id,
        status="succeeded",
        services={"cart": ServiceOutcome(status="succeeded")},
    )


def read_sse(response: httpx.Response) -> list[dict[str, str]]:
    """Every event of a server-sent stream until the server ends it (comments dropped)."""
    events, current = [], {}
    for line in response.iter_lines():
        if not line:
            if current:
                events.append(current)
            current = {}
        elif not line.startswith(":"):
            field, _, value = line.partition(": ")
            current[field] = value
    return events


def test_without_asking_for_a_stream_the_events_come_as_json(api_url, runs, log):
    started_run(runs, "r1", ["cart"])
    pushed = built(runs, "r1", "cart")
    log.append(pushed)

    response = httpx.get(f"{api_url}/api/v1/runs/r1/events")

    assert response.headers["content-type"] == "application/json"
    assert [e["type"] for e in response.json()["events"]] == ["ImagePushed"]


def test_the_stream_sends_past_and_live_events_and_ends_after_run_completed(api_url, runs, log):
    started_run(runs, "r1", ["cart"])
    log.append(built(runs, "r1", "cart"))

    def finish_later() -> None:
        time.sleep(0.5)
        log.append(completed("r1"))

    threading.Thread(target=finish_later, daemon=True).start()
    with httpx.stream("GET", f"{api_url}/api/v1/runs/r1/events", headers=SSE, timeout=10) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        events = read_sse(r)

    assert [e["event"] for e in events] == ["ImagePushed", "RunCompleted"]
    assert json.loads(events[1]["data"])["status"] == "succeeded"
    assert all(e["id"] for e in events)


def test_stream_1_asks_for_the_stream_too_and_last_event_id_resumes_after_it(api_url, runs, log):
    started_run(runs, "r1", ["cart"])
    log.append(built(runs, "r1", "cart"))
    log.append(completed("r1"))
    [(first_id, _), _] = log.for_run("r1")

    with httpx.stream(
        "GET",
        f"{api_url}/api/v1/runs/r1/events",
        params={"stream": "1"},
        headers={"Last-Event-ID": first_id},
        timeout=10,
    ) as response:
        events = read_sse(response)

    assert [e["event"] for e in events] == ["RunCompleted"]


def test_a_stream_of_a_run_that_ended_without_a_completion_event_still_ends(
    api_url, runs, redis_client
):
    started_run(runs, "r1", ["cart"])
    redis_client.hset("shipline:run:r1", "status", "failed")

    started = time.monotonic()
    with httpx.stream("GET", f"{api_url}/api/v1/runs/r1/events", headers=SSE, timeout=10) as r:
        events = read_sse(r)

    assert events == [] and time.monotonic() - started < 8


def test_the_stream_of_an_unknown_run_is_a_404(api_url):
    response = httpx.get(f"{api_url}/api/v1/runs/nope/events", headers=SSE)

    assert response.status_code == 404
    assert response.json()["error"]["reason"] == "run nope not found"

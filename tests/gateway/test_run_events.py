"""GET /api/v1/runs/{id}/events: JSON by default, live server-sent events on request,
served by uvicorn on a real Redis."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
import redis

from services.common.eventlog import EventLog
from services.common.events import RunCompleted, ServiceOutcome
from services.common.limits import Limits
from services.common.runs import RunStore
from services.common.settings import Settings
from services.gateway.app import create_app
from services.gateway.stream_slots import StreamSlots
from tests.api_server import serving
from tests.gateway.reader import READ_TOKEN, READER, shop_settings
from tests.gateway.runs_data import built, started_run

SSE = {"Accept": "text/event-stream"}


@pytest.fixture
def api_url(redis_url: str, redis_client: redis.Redis, tmp_path) -> Iterator[str]:
    settings = shop_settings(redis_url, tmp_path, api_tokens=[READ_TOKEN])
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

    response = httpx.get(f"{api_url}/api/v1/runs/r1/events", headers=READER)

    assert response.headers["content-type"] == "application/json"
    assert [e["type"] for e in response.json()["events"]] == ["ImagePushed"]


def test_the_stream_sends_past_and_live_events_and_ends_after_run_completed(api_url, runs, log):
    started_run(runs, "r1", ["cart"])
    log.append(built(runs, "r1", "cart"))

    def finish_later() -> None:
        time.sleep(0.5)
        log.append(completed("r1"))

    threading.Thread(target=finish_later, daemon=True).start()
    with httpx.stream(
        "GET", f"{api_url}/api/v1/runs/r1/events", headers=SSE | READER, timeout=10
    ) as r:
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
        headers={"Last-Event-ID": first_id, **READER},
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
    with httpx.stream(
        "GET", f"{api_url}/api/v1/runs/r1/events", headers=SSE | READER, timeout=10
    ) as r:
        events = read_sse(r)

    assert events == [] and time.monotonic() - started < 8


def test_the_stream_of_an_unknown_run_is_a_404(api_url):
    response = httpx.get(f"{api_url}/api/v1/runs/nope/events", headers=SSE | READER)

    assert response.status_code == 404
    assert response.json()["error"]["reason"] == "run nope not found"


# --- open streams are bounded, and idle ones cost no worker thread ------------------------

TOKEN = "stream-token-0123456789"


@contextmanager
def gateway(redis_url: str, tmp_path, **limits: int) -> Iterator[tuple[str, StreamSlots]]:
    settings = Settings(
        redis_url=redis_url,
        workdir=tmp_path,
        api_tokens=[TOKEN],
        public_read=True,  # streams by address alone, as well as by token
        limits=Limits(**limits),
    )
    app = create_app(settings)
    with serving(app) as url:
        yield url, app.state.live_streams.slots


def open_stream(
    url: str, source: str = "127.0.0.1", token: str | None = None
) -> tuple[socket.socket, int, bytes]:
    """A raw live stream (GET /api/v1/events/stream) from `source`: the socket, the status and
    what came with the headers; the stream stays open until the socket is closed."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10, source_address=(source, 0))
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    sock.sendall(
        f"GET /api/v1/events/stream HTTP/1.1\r\nHost: {host}\r\nAccept: {SSE['Accept']}\r\n"
        f"{auth}\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(4096)
    if int(head.split()[1]) != 200:
        head += sock.recv(4096)  # the reason, sent at once
    return sock, int(head.split()[1]), head


def test_with_120_idle_streams_open_other_requests_still_answer_at_once(
    redis_url, redis_client, tmp_path
):
    with gateway(redis_url, tmp_path, event_streams_per_client=200) as (url, slots):
        streams = [open_stream(url) for _ in range(120)]
        try:
            assert {status for _, status, _ in streams} == {200}
            assert slots.open_streams() == 120
            time.sleep(2.5)  # every stream has been through a wait or two

            started = time.monotonic()
            for _ in range(5):
                assert httpx.get(f"{url}/api/v1/runs", timeout=10).status_code == 200
            took = (time.monotonic() - started) / 5
        finally:
            for sock, _, _ in streams:
                sock.close()

        assert took < 0.5  # was 8-11 s when each wait held a worker thread
        wait_until(lambda: slots.open_streams() == 0)


def test_the_stream_over_the_per_client_limit_is_refused_with_429_and_the_reason(
    redis_url, redis_client, tmp_path
):
    with gateway(redis_url, tmp_path) as (url, slots):  # the default: 10 per client
        streams = [open_stream(url) for _ in range(10)]
        try:
            over, status, answer = open_stream(url)
            over.close()
            other_client, other_status, _ = open_stream(url, source="127.0.0.2")
            other_client.close()
        finally:
            for sock, _, _ in streams:
                sock.close()

        assert status == 429
        assert b"too many open event streams for this client (10" in answer
        assert other_status == 200
        wait_until(lambda: slots.open_streams() == 0)
        again, status_after, _ = open_stream(url)
        again.close()
        assert status_after == 200


def test_streams_count_against_the_api_token_from_any_address(redis_url, redis_client, tmp_path):
    with gateway(redis_url, tmp_path, event_streams_per_client=2) as (url, _):
        first = open_stream(url, "127.0.0.2", TOKEN)
        second = open_stream(url, "127.0.0.3", TOKEN)
        third = open_stream(url, "127.0.0.4", TOKEN)
        without_token = open_stream(url, "127.0.0.5")
        for sock, _, _ in (first, second, third, without_token):
            sock.close()

    assert [s[1] for s in (first, second, third, without_token)] == [200, 200, 429, 200]
    assert b"for this token (2" in third[2]
    assert TOKEN.encode() not in third[2]


def test_the_stream_over_the_servers_limit_is_refused_with_429(redis_url, redis_client, tmp_path):
    with gateway(redis_url, tmp_path, event_streams_total=2) as (url, _):
        opened = [open_stream(url, f"127.0.0.{n}") for n in (2, 3, 4)]
        for sock, _, _ in opened:
            sock.close()

    assert [status for _, status, _ in opened] == [200, 200, 429]
    assert b"limits.event_streams_total" in opened[2][2]


def wait_until(condition, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)

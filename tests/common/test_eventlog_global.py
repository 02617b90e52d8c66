"""The event log's global stream as the dashboard reads it: a window of every run's events,
and a live follower that starts from now; on a real Redis."""

from __future__ import annotations

import time

import redis

from services.common.eventlog import EventLog
from services.common.events import PushReceived


def push(run_id: str) -> PushReceived:
    return PushReceived(
        run_id=run_id,
        provider="github",
        delivery_id=run_id,
        repository="acme/microbank",
        ref="refs/heads/main",
        before="a" * 40,
        after="b" * 40,
    )


def test_logged_since_returns_every_runs_events_oldest_first_across_pages(
    redis_client: redis.Redis,
):
    log = EventLog(redis_client)
    for n in range(5):
        log.append(push(f"run-{n}"))

    events = log.logged_since(time.time() - 60, page=2)

    assert [e["run_id"] for e in events] == [f"run-{n}" for n in range(5)]


def test_logged_since_leaves_out_what_was_logged_before_the_start(redis_client: redis.Redis):
    log = EventLog(redis_client)
    log.append(push("old"))
    time.sleep(0.01)
    start = time.time()
    log.append(push("new"))

    assert [e["run_id"] for e in log.logged_since(start)] == ["new"]


def test_a_follower_from_the_last_entry_sees_only_what_comes_after(redis_client: redis.Redis):
    log = EventLog(redis_client)
    assert log.last_global_id() == "0-0"
    log.append(push("before"))
    start = log.last_global_id()
    log.append(push("after"))

    entries = log.follow_all(start, block_ms=100)

    assert [event["run_id"] for _, event in entries] == ["after"]
    assert log.follow_all(entries[-1][0], block_ms=50) == []

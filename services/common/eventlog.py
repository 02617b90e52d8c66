"""The event log: every published event appended once to Redis streams the API reads."""

from __future__ import annotations

import json
from typing import Any

import redis

from services.common.events import Envelope, encode_event

GLOBAL_STREAM = "shipline:events"
MAX_GLOBAL = 100_000
MARKER_TTL = 7 * 24 * 3600


def logged_marker(event: Envelope) -> str:
    return f"shipline:logged:{event.event_id}"


def run_stream(run_id: str) -> str:
    return f"shipline:run:{run_id}:events"


class EventLog:
    def __init__(self, client: redis.Redis) -> None:
        self._redis: Any = client  # redis-py's response types are too loose to check usefully

    def append(self, event: Envelope) -> bool:
        """Append unless this event id was already logged; True when appended."""
        if not self._redis.set(logged_marker(event), 1, nx=True, ex=MARKER_TTL):
            return False
        body = encode_event(event)
        pipe = self._redis.pipeline()
        pipe.xadd(GLOBAL_STREAM, {"event": body}, maxlen=MAX_GLOBAL, approximate=True)
        pipe.xadd(run_stream(event.run_id), {"event": body})
        pipe.execute()
        return True

    def for_run(
        self, run_id: str, after: str = "-", count: int = 1000
    ) -> list[tuple[str, dict[str, Any]]]:
        start = "-" if after == "-" else f"({after}"
        entries = self._redis.xrange(run_stream(run_id), min=start, count=count)
        return [(entry_id.decode(), json.loads(fields[b"event"])) for entry_id, fields in entries]

    def follow(
        self, run_id: str, after: str = "-", block_ms: int = 5000, count: int = 100
    ) -> list[tuple[str, dict[str, Any]]]:
        """The run's events after entry `after` ("-": from the first), waiting up to
        `block_ms` for one to arrive (XREAD BLOCK); an empty list when none did."""
        stream = run_stream(run_id)
        answer = self._redis.xread({stream: "0-0" if after == "-" else after}, count, block_ms)
        entries = answer[0][1] if answer else []
        return [(entry_id.decode(), json.loads(fields[b"event"])) for entry_id, fields in entries]

    def logged_since(self, start: float, page: int = 5000) -> list[dict[str, Any]]:
        """Every event of every run logged at or after `start` (seconds since the epoch),
        oldest first: stream entry ids begin with the milliseconds they were added at."""
        events: list[dict[str, Any]] = []
        low = f"{int(start * 1000)}-0"
        while True:
            entries = self._redis.xrange(GLOBAL_STREAM, min=low, count=page)
            events += [json.loads(fields[b"event"]) for _, fields in entries]
            if len(entries) < page:
                return events
            low = f"({entries[-1][0].decode()}"

    def last_global_id(self) -> str:
        """The newest entry of the global stream ("0-0" when empty): where a live follower
        starts so that it misses nothing logged after it asked."""
        newest = self._redis.xrevrange(GLOBAL_STREAM, count=1)
        return newest[0][0].decode() if newest else "0-0"

    def follow_all(
        self, after: str, block_ms: int = 5000, count: int = 100
    ) -> list[tuple[str, dict[str, Any]]]:
        """Events of every run logged after entry `after`, waiting up to `block_ms`."""
        answer = self._redis.xread({GLOBAL_STREAM: after}, count, block_ms)
        entries = answer[0][1] if answer else []
        return [(entry_id.decode(), json.loads(fields[b"event"])) for entry_id, fields in entries]

"""The event log: every published event appended once to Redis streams the API reads."""

from __future__ import annotations

import json
from typing import Any

import redis

from services.common.events import Envelope, encode_event

GLOBAL_STREAM = "shipline:events"
MAX_GLOBAL = 100_000
MARKER_TTL = 7 * 24 * 3600


class EventLog:
    def __init__(self, client: redis.Redis) -> None:
        self._redis: Any = client  # redis-py's response types are too loose to check usefully

    def append(self, event: Envelope) -> bool:
        """Append unless this event id was already logged; True when appended."""
        if not self._redis.set(f"shipline:logged:{event.event_id}", 1, nx=True, ex=MARKER_TTL):
            return False
        body = encode_event(event)
        pipe = self._redis.pipeline()
        pipe.xadd(GLOBAL_STREAM, {"event": body}, maxlen=MAX_GLOBAL, approximate=True)
        pipe.xadd(f"shipline:run:{event.run_id}:events", {"event": body})
        pipe.execute()
        return True

    def for_run(
        self, run_id: str, after: str = "-", count: int = 1000
    ) -> list[tuple[str, dict[str, Any]]]:
        start = "-" if after == "-" else f"({after}"
        entries = self._redis.xrange(f"shipline:run:{run_id}:events", min=start, count=count)
        return [(entry_id.decode(), json.loads(fields[b"event"])) for entry_id, fields in entries]

    def follow(
        self, run_id: str, after: str = "-", block_ms: int = 5000, count: int = 100
    ) -> list[tuple[str, dict[str, Any]]]:
        """The run's events after entry `after` ("-": from the first), waiting up to
        `block_ms` for one to arrive (XREAD BLOCK); an empty list when none did."""
        stream = f"shipline:run:{run_id}:events"
        answer = self._redis.xread({stream: "0-0" if after == "-" else after}, count, block_ms)
        entries = answer[0][1] if answer else []
        return [(entry_id.decode(), json.loads(fields[b"event"])) for entry_id, fields in entries]

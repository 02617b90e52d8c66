"""The event log: every published event appended once to Redis streams the API reads.

Bus.publish appends within its one script (publish_script.py): the first publish of an
event id sets its marker and adds the entry to the global stream (approximately capped at
MAX_GLOBAL) and to its run's stream; a republish of the same id adds nothing."""

from __future__ import annotations

import json
from typing import Any

import redis

from services.common.events import Envelope, encode_event
from services.common.keyspace import DEFAULT_KEYSPACE, Keyspace
from services.common.publish_script import Writes
from services.common.redis_types import RedisClient, StreamEntry, bytes_client

MAX_GLOBAL = 100_000
MARKER_TTL = 7 * 24 * 3600


class EventLog:
    """Streams `keys.events` (every run's, capped at MAX_GLOBAL) and `keys.run_events`."""

    def __init__(
        self, client: redis.Redis | RedisClient, *, keys: Keyspace = DEFAULT_KEYSPACE
    ) -> None:
        self._redis = bytes_client(client)
        self._keys = keys

    def append(self, event: Envelope) -> bool:
        """Append unless this event id was already logged; True when appended."""
        writes = Writes()
        self.append_to(writes, event, encode_event(event))
        return writes.commit(self._redis) == [1]

    def append_to(self, writes: Writes, event: Envelope, body: str) -> int:
        """Add the append of `event` (encoded as `body`) to a publish's `writes`: to both
        streams unless its id was logged before (a marker kept MARKER_TTL)."""
        return writes.log(
            self._keys.event_logged(event.event_id),
            MARKER_TTL,
            self._keys.events,
            self._keys.run_events(event.run_id),
            MAX_GLOBAL,
            body,
        )

    def for_run(
        self, run_id: str, after: str = "-", count: int = 1000
    ) -> list[tuple[str, dict[str, Any]]]:
        start = "-" if after == "-" else f"({after}"
        return _decoded(self._redis.xrange(self._keys.run_events(run_id), min=start, count=count))

    def follow(
        self, run_id: str, after: str = "-", block_ms: int = 5000, count: int = 100
    ) -> list[tuple[str, dict[str, Any]]]:
        """The run's events after entry `after` ("-": from the first), waiting up to
        `block_ms` for one to arrive (XREAD BLOCK); an empty list when none did."""
        stream = self._keys.run_events(run_id)
        answer = self._redis.xread({stream: "0-0" if after == "-" else after}, count, block_ms)
        return _decoded(answer[0][1] if answer else [])

    def logged_since(self, start: float, page: int = 5000) -> list[dict[str, Any]]:
        """Every event of every run logged at or after `start` (seconds since the epoch),
        oldest first: stream entry ids begin with the milliseconds they were added at."""
        events: list[dict[str, Any]] = []
        low = f"{int(start * 1000)}-0"
        while True:
            entries = self._redis.xrange(self._keys.events, min=low, count=page)
            events += [json.loads(fields[b"event"]) for _, fields in entries]
            if len(entries) < page:
                return events
            low = f"({entries[-1][0].decode()}"

    def last_global_id(self) -> str:
        """The newest entry of the global stream ("0-0" when empty): where a live follower
        starts so that it misses nothing logged after it asked."""
        newest = self._redis.xrevrange(self._keys.events, count=1)
        return newest[0][0].decode() if newest else "0-0"

    def follow_all(
        self, after: str, block_ms: int = 5000, count: int = 100
    ) -> list[tuple[str, dict[str, Any]]]:
        """Events of every run logged after entry `after`, waiting up to `block_ms`."""
        answer = self._redis.xread({self._keys.events: after}, count, block_ms)
        return _decoded(answer[0][1] if answer else [])


def _decoded(entries: list[StreamEntry]) -> list[tuple[str, dict[str, Any]]]:
    return [(entry_id.decode(), json.loads(fields[b"event"])) for entry_id, fields in entries]

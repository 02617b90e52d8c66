"""What the reconciler reads of Shipline's own keys: the runs in flight it follows, their
logged events, and whether a delivery is claimed, done or re-driven already.

It follows runs itself, in `keys.reconciler_runs`, instead of reading every run's status:
each pass adds the runs indexed since its cursor, and drops those that ended, so a pass
costs in proportion to the runs in flight, not to every run kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, cast

import redis

from services.common.errors import EventDecodeError
from services.common.events import Envelope, decode_event
from services.common.keyspace import Keyspace
from services.common.redis_types import bytes_client
from services.reconciler.decision import Delivery

IN_FLIGHT = (b"queued", b"running")
# Where following starts when it never ran (or Redis lost its cursor): runs a day old.
LOOKBACK_SECONDS = 24 * 3600
# Runs are indexed a moment after the creation time they are scored with (and the gateways'
# clocks differ a little): each pass reads the index again from this far behind its cursor.
INDEX_SLACK_SECONDS = 60
NEW_RUNS_PER_PASS = 10_000


class ReconcilerRedis(Protocol):
    """The commands the reconciler sends (redis.Redis has them; replies are bytes)."""

    def time(self) -> tuple[int, int]: ...
    def get(self, name: str) -> bytes | None: ...
    def set(self, name: str, value: Any, ex: int | None = None, nx: bool = False) -> Any: ...
    def delete(self, *names: str) -> int: ...
    def zadd(self, name: str, mapping: Any, nx: bool = False, xx: bool = False) -> Any: ...
    def zrange(self, name: str, start: int, end: int) -> list[bytes]: ...
    def zrangebyscore(
        self, name: str, min: Any, max: Any, start: int, num: int, withscores: bool
    ) -> list[tuple[bytes, float]]: ...
    def zrevrange(self, name: str, start: int, end: int) -> list[bytes]: ...
    def zrem(self, name: str, *values: Any) -> Any: ...
    def xrevrange(self, name: str, max: str, min: str, count: int) -> Any: ...
    def hvals(self, name: str) -> Any: ...
    def pipeline(self, transaction: bool = True) -> Any: ...


def reconciler_client(client: redis.Redis) -> ReconcilerRedis:
    """`client` as the reconciler uses it; refuses one that decodes replies to str."""
    return cast(ReconcilerRedis, bytes_client(client))


@dataclass(frozen=True)
class RunInFlight:
    run_id: str
    created_at: float


@dataclass(frozen=True)
class Marks:
    claimed: bool
    done: bool
    redriven: bool


class Observer:
    def __init__(self, client: ReconcilerRedis, keys: Keyspace) -> None:
        self._redis, self._keys = client, keys

    def now(self) -> float:
        """Redis's clock: the one the event log's entry ids are stamped with."""
        seconds, micros = self._redis.time()
        return seconds + micros / 1_000_000

    def newest_run(self) -> bytes | None:
        """The newest run's id: a new one means a push (or any trigger) came in."""
        newest = self._redis.zrevrange(self._keys.runs_index, 0, 0)
        return newest[0] if newest else None

    def follow_new_runs(self, now: float) -> None:
        """Start following the runs indexed since the cursor."""
        cursor = self._redis.get(self._keys.reconciler_cursor)
        since = float(cursor) - INDEX_SLACK_SECONDS if cursor else now - LOOKBACK_SECONDS
        page = self._redis.zrangebyscore(
            self._keys.runs_index, since, "+inf", start=0, num=NEW_RUNS_PER_PASS, withscores=True
        )
        if not page:
            return
        newest = max(created for _, created in page)
        pipe = self._redis.pipeline(transaction=False)
        pipe.zadd(self._keys.reconciler_runs, {run: created for run, created in page}, nx=True)
        if cursor is None or newest > float(cursor):
            pipe.set(self._keys.reconciler_cursor, repr(newest))
        pipe.execute()

    def runs_in_flight(self, limit: int, now: float) -> list[RunInFlight]:
        """Up to `limit` followed runs still queued or running, those looked at least
        recently first; runs that ended (or are gone) are no longer followed."""
        followed = self._redis.zrange(self._keys.reconciler_runs, 0, limit - 1)
        if not followed:
            return []
        pipe = self._redis.pipeline(transaction=False)
        for run_id in followed:
            pipe.hmget(self._keys.run(run_id.decode()), "status", "created_at")
        records = pipe.execute()
        in_flight = [
            RunInFlight(run_id.decode(), float(created or 0))
            for run_id, (status, created) in zip(followed, records, strict=True)
            if status in IN_FLIGHT
        ]
        ended = [
            run_id
            for run_id, (status, _) in zip(followed, records, strict=True)
            if status not in IN_FLIGHT
        ]
        pipe = self._redis.pipeline(transaction=False)
        if ended:
            pipe.zrem(self._keys.reconciler_runs, *ended)
        if in_flight:
            looked = {run.run_id: now for run in in_flight}
            pipe.zadd(self._keys.reconciler_runs, looked, xx=True)
        pipe.execute()
        return in_flight

    def logged_events(self, run_id: str, limit: int) -> list[tuple[float, Envelope]]:
        """The run's newest `limit` events, each with the time it was logged (its stream
        entry id's milliseconds); an event this version cannot read is left out."""
        entries = self._redis.xrevrange(self._keys.run_events(run_id), "+", "-", count=limit)
        events = []
        for entry_id, fields in entries:
            try:
                event = decode_event(fields[b"event"])
            except (EventDecodeError, KeyError):
                continue
            events.append((int(entry_id.split(b"-")[0]) / 1000, event))
        return events

    def handled(self, deliveries: Sequence[Delivery]) -> list[bool]:
        """Whether each delivery is claimed or done (one command each, one round trip)."""
        if not deliveries:
            return []
        pipe = self._redis.pipeline(transaction=False)
        for delivery in deliveries:
            event_id = delivery.event.event_id
            claim = self._keys.stage_claim(delivery.stage, event_id)
            pipe.exists(claim, self._keys.stage_done(delivery.stage, event_id))
        return [bool(count) for count in pipe.execute()]

    def marks(self, deliveries: Sequence[Delivery]) -> list[Marks]:
        """Whether each delivery is claimed, done, re-driven already (one round trip)."""
        if not deliveries:
            return []
        pipe = self._redis.pipeline(transaction=False)
        for delivery in deliveries:
            event_id = delivery.event.event_id
            pipe.exists(self._keys.stage_claim(delivery.stage, event_id))
            pipe.exists(self._keys.stage_done(delivery.stage, event_id))
            pipe.exists(self._keys.reconciler_redriven(delivery.stage, event_id))
        replies = pipe.execute()
        return [
            Marks(bool(replies[i]), bool(replies[i + 1]), bool(replies[i + 2]))
            for i in range(0, len(replies), 3)
        ]

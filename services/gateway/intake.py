"""Starting a run from a trigger: dedupe its delivery id, create the run, publish it.

Shared by every webhook route and the manual build API, so "at most one run per
delivery" and "nothing half-recorded when Redis is down" hold the same way for all.
"""

from __future__ import annotations

import contextlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from services.common.bus import BROKER_ERRORS, BusUnavailable
from services.common.events import Envelope
from services.common.runtime import Runtime

DELIVERY_TTL = 7 * 24 * 3600


def new_run_id() -> str:
    return f"{datetime.now(UTC):%Y%m%d%H%M%S}-{secrets.token_hex(4)}"


def delivery_key(source: str, delivery_id: str) -> str:
    return f"shipline:delivery:{source}:{delivery_id}"


@dataclass(frozen=True)
class Started:
    run_id: str
    duplicate: bool = False


def start_run(
    runtime: Runtime, trigger: Envelope, key: str | None, kind: str, **fields: str
) -> Started:
    """Record and queue `trigger` as a new run, or return the run its delivery already started.

    Raises BusUnavailable when Redis cannot be reached; the delivery is then not
    remembered, so the sender's retry starts the run.
    """
    redis = runtime.redis
    try:
        if key is not None:
            existing = redis.set(key, trigger.run_id, nx=True, ex=DELIVERY_TTL, get=True)
            if existing is not None:
                first = existing.decode() if isinstance(existing, bytes) else str(existing)
                return Started(first, duplicate=True)
        runtime.runs.create(trigger.run_id, trigger=kind, **fields)
        runtime.bus.publish(trigger)
    except BROKER_ERRORS:
        if key is not None:
            with contextlib.suppress(Exception):  # Redis is down: the marker expires anyway
                redis.delete(key)
        raise BusUnavailable("the event bus is unavailable; retry later") from None
    return Started(trigger.run_id)

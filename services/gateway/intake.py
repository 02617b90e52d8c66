"""Starting a run from a trigger: dedupe its delivery id, create the run, queue it.

Shared by every webhook route and the manual build and release APIs, so "at most one run
per delivery" and "nothing half-recorded when Redis is down" hold the same way for all.
A webhook's push is also remembered by what it moved (repository, ref, before, after) for
`limits.replay_window_seconds`: the same body replayed under a new delivery id is answered
with the run it started.
All of it is one Redis script (start_run.lua), so a run is either fully started (recorded,
logged, queued for the detector) or not at all; concurrent requests' scripts travel
together in one round trip (group_commit.py).
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from hashlib import sha1
from importlib.resources import files

import redis
import redis.asyncio
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from services.common.bus import BusUnavailable, stages_for, task_messages
from services.common.eventlog import MARKER_TTL, MAX_GLOBAL
from services.common.events import Envelope, PushReceived, encode_event
from services.common.logging import get_logger
from services.common.redis_connect import connect_async
from services.common.run_records import push_fields, run_record
from services.common.runtime import Runtime
from services.gateway.group_commit import GroupCommit

DELIVERY_TTL = 7 * 24 * 3600
# Where a trigger came from and its id there (a webhook's delivery, an idempotency key):
# the same delivery starts one run.
Delivery = tuple[str, str]
SCRIPT = files("services.gateway").joinpath("start_run.lua").read_text()
SCRIPT_SHA = sha1(SCRIPT.encode(), usedforsecurity=False).hexdigest()


def new_run_id() -> str:
    return f"{time.strftime('%Y%m%d%H%M%S', time.gmtime())}-{secrets.token_hex(4)}"


def push_update(push: PushReceived) -> str:
    return f"{push.before}..{push.after}"


@dataclass(frozen=True)
class Started:
    run_id: str
    duplicate: bool = False


class Intake:
    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._commit = GroupCommit(self._client)

    async def aclose(self) -> None:
        await self._commit.aclose()

    def _client(self) -> redis.asyncio.Redis:
        # no retries: a lost reply must not queue a run twice; the sender retries on 503
        return connect_async(
            self._runtime.redis_url,
            socket_connect_timeout=3,
            socket_timeout=10,
            retry=Retry(NoBackoff(), 0),
        )

    async def start_run(
        self,
        trigger: Envelope,
        delivery: Delivery | None,
        kind: str,
        *,
        replayable: bool = False,
        **fields: str,
    ) -> Started:
        """Record and queue `trigger` as a new run, or return the run its `delivery` already
        started (with `replayable`, also the run the same push started within the replay
        window). Raises BusUnavailable when Redis cannot be reached; nothing was written
        then, so the sender's retry starts the run."""
        now = time.time()
        run_id = trigger.run_id
        record = run_record(run_id, kind, now, fields)
        if isinstance(trigger, PushReceived):
            record.update(push_fields(trigger, now))
        event_json = encode_event(trigger)
        queued = task_messages(self._runtime.celery, trigger, event_json)
        window = self._runtime.settings.limits.replay_window_seconds
        push = trigger if isinstance(trigger, PushReceived) else None
        replay = push is not None and replayable and window > 0
        space = self._runtime.keyspace
        keys = [
            space.delivery(*delivery) if delivery else "",
            space.push_update(push.repository, push.ref) if push and replay else "",
            space.run(run_id),
            space.runs_index,
            space.event_logged(trigger.event_id),
            space.events,
            space.run_events(run_id),
            space.runs_by_status("queued"),
            space.runs_by_repository(fields["repository"]) if fields.get("repository") else "",
            *(queue for queue, _ in queued),  # Celery's queues: not under the namespace
        ]
        fields_json = json.dumps({field: str(value) for field, value in record.items()})
        args = [run_id, now, DELIVERY_TTL, max(window, 1), MARKER_TTL, MAX_GLOBAL, event_json]
        update = push_update(push) if push else ""
        args += [fields_json, update, *(message for _, message in queued)]
        first = await self._run_script(keys, args)
        if first is not None:  # the run this delivery started before
            return Started(first.decode(), duplicate=True)
        get_logger(run_id=run_id).info(
            "run started",
            trigger=kind,
            event_type=trigger.type,
            event_id=str(trigger.event_id),
            to=",".join(stages_for(trigger)),
            **fields,
        )
        return Started(run_id)

    async def _run_script(self, keys: list[str], args: list[object]) -> bytes | None:
        try:
            try:
                return await self._commit.execute("EVALSHA", SCRIPT_SHA, len(keys), *keys, *args)
            except redis.exceptions.NoScriptError:  # Redis restarted: the script did not run
                return await self._commit.execute("EVAL", SCRIPT, len(keys), *keys, *args)
        except (redis.RedisError, OSError):
            raise BusUnavailable("the event bus is unavailable; retry later") from None

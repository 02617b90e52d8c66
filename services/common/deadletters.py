"""The dead-letter store: the events a stage gave up on, kept in Redis for people.

An event lands here when its payload cannot even be decoded (a poison message), when it
reached a stage that does not consume it, when a stage failed on it permanently, or when
its transient failures outlasted the retry budget (``retry`` in the settings). A letter's
id is derived from the stage and the event (or the raw payload), so a failure redelivered
after a crash is kept once. Letters hold events and error messages only; events never
carry credentials. `republish_command` names what queues one again.
"""

from __future__ import annotations

import hashlib
import time
from typing import Literal

import redis
from pydantic import BaseModel, ConfigDict, computed_field

from services.common.keyspace import DEFAULT_KEYSPACE, Keyspace
from services.common.redis_types import RedisClient, bytes_client

MAX_PAYLOAD = 256 * 1024
LETTER_ID_PATTERN = r"^[a-z]+-[0-9a-f]{16}$"

Cause = Literal["undecodable", "wrong-stage", "permanent", "retries-exhausted"]


class DeadLetter(BaseModel):
    """One event a stage gave up on, with why and how often it was republished."""

    model_config = ConfigDict(frozen=True)

    id: str
    stage: str
    cause: Cause
    error_class: str
    message: str
    attempts: int
    payload: str  # the event as it arrived (cut at MAX_PAYLOAD bytes)
    event_type: str | None = None
    event_id: str | None = None
    run_id: str | None = None
    service: str | None = None
    dead_at: float
    replays: int = 0
    last_replay_at: float | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def republish(self) -> str:
        """The command that queues the letter's event again."""
        return republish_command(self.id)


def republish_command(letter_id: str) -> str:
    """What a person runs to queue the letter's event again (POST .../republish underneath)."""
    return f"shipline publish --from-dead-letter {letter_id}"


def letter_id(stage: str, event_id: str | None, payload: str) -> str:
    """Stable per stage and event (or per raw payload when it has no readable id)."""
    basis = f"{stage}:{event_id}" if event_id else f"{stage}:payload:{payload}"
    return f"{stage}-{hashlib.sha256(basis.encode()).hexdigest()[:16]}"


class DeadLetterStore:
    """Letters in hashes `keys.dead_letter(id)`, indexed by `keys.dead_letters`."""

    def __init__(
        self, client: redis.Redis | RedisClient, *, keys: Keyspace = DEFAULT_KEYSPACE
    ) -> None:
        self._redis = bytes_client(client)
        self._keys = keys

    def add(
        self,
        *,
        stage: str,
        cause: Cause,
        error_class: str,
        message: str,
        attempts: int,
        payload: str,
        event_type: str | None = None,
        event_id: str | None = None,
        run_id: str | None = None,
        service: str | None = None,
    ) -> DeadLetter:
        """Keep the letter unless it is already kept (a redelivered failure); return it."""
        letter = DeadLetter(
            id=letter_id(stage, event_id, payload),
            stage=stage,
            cause=cause,
            error_class=error_class,
            message=message[:2000],
            attempts=attempts,
            payload=payload[:MAX_PAYLOAD],
            event_type=event_type,
            event_id=event_id,
            run_id=run_id,
            service=service,
            dead_at=time.time(),
        )
        key = self._keys.dead_letter(letter.id)
        if self._redis.hsetnx(key, "id", letter.id):
            fields = letter.model_dump(exclude={"last_replay_at", "republish"}, exclude_none=True)
            pipe = self._redis.pipeline()
            pipe.hset(key, mapping={k: str(v) for k, v in fields.items()})
            pipe.zadd(self._keys.dead_letters, {letter.id: letter.dead_at})
            pipe.execute()
            return letter
        return self.get(letter.id) or letter

    def get(self, letter_id: str) -> DeadLetter | None:
        raw = self._redis.hgetall(self._keys.dead_letter(letter_id))
        if not raw or b"stage" not in raw:
            return None
        return DeadLetter.model_validate({k.decode(): v.decode() for k, v in raw.items()})

    def newest_first(self, limit: int = 50, offset: int = 0) -> list[DeadLetter]:
        ids = self._redis.zrevrange(self._keys.dead_letters, offset, offset + limit - 1)
        letters = (self.get(i.decode()) for i in ids)
        return [letter for letter in letters if letter is not None]

    def count(self) -> int:
        return int(self._redis.zcard(self._keys.dead_letters))

    def mark_replayed(self, letter_id: str) -> int:
        """Count one more republication; returns its number (1 for the first)."""
        key = self._keys.dead_letter(letter_id)
        pipe = self._redis.pipeline()
        pipe.hincrby(key, "replays", 1)
        pipe.hset(key, "last_replay_at", str(time.time()))
        replays, _ = pipe.execute()
        return int(replays)

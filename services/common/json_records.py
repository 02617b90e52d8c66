"""One pydantic model as JSON under one Redis key, kept for a time to live: the record stores
(scan verdicts, environment scan verdicts, scan host reports) name the keys and read and
write through it. A record that no longer parses reads as absent, as if it had expired.
"""

from __future__ import annotations

from typing import Generic, TypeVar

import redis
from pydantic import BaseModel, ValidationError

from services.common.redis_types import RedisClient, bytes_client

Record = TypeVar("Record", bound=BaseModel)


class JsonRecords(Generic[Record]):
    def __init__(self, client: redis.Redis | RedisClient, model: type[Record], ttl: int) -> None:
        self._redis, self._model, self._ttl = bytes_client(client), model, ttl

    def put(self, key: str, record: Record) -> None:
        self._redis.set(key, record.model_dump_json(), ex=self._ttl)

    def put_new(self, key: str, record: Record, ttl: int) -> bool:
        """Write `record` only where the key holds none, for `ttl` seconds; whether it did."""
        return bool(self._redis.set(key, record.model_dump_json(), nx=True, ex=ttl))

    def get(self, key: str) -> Record | None:
        raw = self._redis.get(key)
        if raw is None:
            return None
        try:
            return self._model.model_validate_json(raw)
        except ValidationError:
            return None

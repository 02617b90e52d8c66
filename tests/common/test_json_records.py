"""The Redis JSON record the scan verdict and host report stores keep their records in."""

from __future__ import annotations

import redis
from pydantic import BaseModel

from services.common.json_records import JsonRecords


class Note(BaseModel):
    text: str


def test_a_record_put_is_read_back_and_lives_for_the_ttl(redis_client: redis.Redis) -> None:
    records = JsonRecords(redis_client, Note, ttl=60)

    records.put("test:note", Note(text="kept"))

    assert records.get("test:note") == Note(text="kept")
    assert 0 < redis_client.ttl("test:note") <= 60


def test_a_record_that_no_longer_parses_reads_as_absent(redis_client: redis.Redis) -> None:
    redis_client.set("test:note", b'{"txt": "an older shape"}')

    assert JsonRecords(redis_client, Note, ttl=60).get("test:note") is None


def test_put_new_writes_only_where_no_record_is(redis_client: redis.Redis) -> None:
    records = JsonRecords(redis_client, Note, ttl=60)

    assert records.put_new("test:note", Note(text="first"), ttl=5) is True
    assert records.put_new("test:note", Note(text="second"), ttl=5) is False

    assert records.get("test:note") == Note(text="first")
    assert 0 < redis_client.ttl("test:note") <= 5

"""The typed Redis client: Shipline's stores rely on bytes replies, so a client that decodes
them to str is refused where a store takes it, not deep inside a read."""

from __future__ import annotations

import pytest
import redis
import redis.asyncio

from services.common.pins import PinStore
from services.common.redis_types import async_bytes_client, bytes_client
from services.common.runs import RunStore


def test_a_client_decoding_replies_to_str_is_refused_by_the_stores() -> None:
    decoding = redis.Redis(decode_responses=True)  # connects lazily: nothing is sent

    for store in (PinStore, RunStore):
        with pytest.raises(ValueError, match="decode_responses"):
            store(decoding)


def test_an_asyncio_client_decoding_replies_is_refused_too() -> None:
    with pytest.raises(ValueError, match="decode_responses"):
        async_bytes_client(redis.asyncio.Redis(decode_responses=True))


def test_a_client_answering_bytes_is_taken_as_it_is() -> None:
    client = redis.Redis()
    assert bytes_client(client) is client

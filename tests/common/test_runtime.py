"""Celery (kombu) and redis-py spell a unix-socket Redis URL differently; Runtime translates."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from services.common.redis_connect import celery_broker
from services.common.runtime import Runtime
from services.common.settings import Settings
from services.devenv.redis_server import RedisServer


@pytest.fixture(scope="module")
def socket_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with RedisServer(tmp_path_factory.mktemp("sock") / "redis", unix_socket=True) as server:
        yield server


def test_a_tcp_url_is_the_same_for_celery() -> None:
    url = "redis://:pw-0123456789abcdef@127.0.0.1:6379/2"

    assert celery_broker(url).url == url


def test_a_unix_socket_url_becomes_kombus_socket_url_with_its_password_and_db() -> None:
    broker = celery_broker("unix://:pw-0123456789abcdef@/run/shipline/redis.sock?db=3")

    assert (
        broker.url == "redis+socket://:pw-0123456789abcdef@/run/shipline/redis.sock?virtual_host=3"
    )


def test_a_password_given_in_the_query_or_with_reserved_characters_stays_quoted() -> None:
    broker = celery_broker("unix:///run/r.sock?password=p%40ss%2Fw0rd-0123456789")

    assert broker.url == "redis+socket://:p%40ss%2Fw0rd-0123456789@/run/r.sock?virtual_host=0"


@pytest.mark.parametrize("form", ["userinfo", "query"])
def test_celery_and_redis_py_reach_a_password_protected_socket_redis(
    socket_redis: RedisServer, tmp_path: Path, form: str
) -> None:
    url = socket_redis.url
    if form == "query":
        url = f"unix://{socket_redis.socket_path}?db=0&password={socket_redis.password}"
    runtime = Runtime(Settings(redis_url=url, workdir=tmp_path))
    runtime.redis.delete("probe")

    with runtime.celery.connection_for_write() as connection:
        queue = connection.SimpleQueue("probe")
        queue.put({"sent": form})
        assert queue.get(timeout=5).payload == {"sent": form}
        queue.close()
    assert runtime.redis.ping()


def test_a_client_without_the_password_is_refused_by_the_socket_redis(
    socket_redis: RedisServer,
) -> None:
    client = redis.Redis(unix_socket_path=str(socket_redis.socket_path))

    with pytest.raises(redis.AuthenticationError):
        client.ping()

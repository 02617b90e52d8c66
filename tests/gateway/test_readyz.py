"""/readyz: per component, 200 only when webhooks can be taken, cheap enough to probe often."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient

from services.common.settings import Settings
from services.devenv.redis_server import RedisServer
from services.gateway.app import create_app


def ready(redis_url: str, workdir: Path, probes: int = 1) -> list[tuple[int, dict]]:
    with TestClient(create_app(Settings(redis_url=redis_url, workdir=workdir))) as client:
        answers = [client.get("/readyz") for _ in range(probes)]
    return [(answer.status_code, answer.json()) for answer in answers]


def test_a_working_redis_is_ready_with_its_version_and_the_intake(
    redis_url: str, tmp_path: Path
) -> None:
    [(status, body)] = ready(redis_url, tmp_path)

    assert status == 200
    assert body["status"] == "ok"
    assert body["components"]["intake"] == {"status": "ok"}
    assert body["components"]["redis"]["status"] == "ok"
    assert body["components"]["redis"]["version"].split()[0] in ("Redis", "Valkey")


def test_redis_down_is_503_naming_the_redis_component(tmp_path: Path) -> None:
    [(status, body)] = ready("redis://:some-password-0123456789@127.0.0.1:1/0", tmp_path)

    assert status == 503
    assert body["status"] == "unavailable"
    assert body["components"]["redis"]["status"] == "unavailable"
    assert body["components"]["redis"]["detail"].startswith("unreachable: ")
    assert body["components"]["intake"] == {"status": "unavailable", "detail": "needs Redis"}
    assert "some-password" not in str(body)


@pytest.fixture
def no_scripting_url(redis_server: RedisServer) -> Iterator[str]:
    """A Redis user that may do everything but run scripts: the intake cannot load."""
    admin = redis.Redis.from_url(redis_server.url)
    admin.acl_setuser(
        "readyz-noscript", enabled=True, passwords=["+noscript-pass-0123456789"],
        keys=["*"], channels=["*"], commands=["+@all", "-@scripting"],
    )  # fmt: skip
    yield f"redis://readyz-noscript:noscript-pass-0123456789@127.0.0.1:{redis_server.port}/0"
    admin.acl_deluser("readyz-noscript")
    admin.close()


def test_an_intake_script_that_cannot_load_is_503_naming_the_intake(
    no_scripting_url: str, tmp_path: Path
) -> None:
    [(status, body)] = ready(no_scripting_url, tmp_path)

    assert status == 503
    assert body["components"]["redis"]["status"] == "ok"
    intake = body["components"]["intake"]
    assert intake["status"] == "unavailable"
    assert intake["detail"].startswith("start_run.lua does not load: ")
    assert "no permissions to run the 'script|load' command" in intake["detail"]


def test_frequent_probes_load_the_intake_script_once(
    redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    def script_loads() -> int:
        stats = redis_client.info("commandstats")
        return int(stats.get("cmdstat_script|load", {}).get("calls", 0))

    before = script_loads()
    answers = ready(redis_url, tmp_path, probes=20)

    assert {status for status, _ in answers} == {200}
    assert script_loads() - before == 1


def test_the_oldest_supported_redis_is_ready(redis_6_2_binary: Path, tmp_path: Path) -> None:
    with RedisServer(tmp_path / "redis-6.2", binary=redis_6_2_binary) as oldest:
        [(status, body)] = ready(oldest.url, tmp_path)

    assert status == 200, body
    assert body["components"]["redis"]["version"].startswith("Redis 6.2.")
    assert body["components"]["intake"] == {"status": "ok"}

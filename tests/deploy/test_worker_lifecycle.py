"""Workers under an orchestrator, against a real Redis: start-up that waits for Redis, and
SIGTERM as Celery's warm shutdown (the running task finishes and is acknowledged, nothing
else is taken or lost). The heartbeat and its probe: tests/deploy/test_worker_heartbeat.py.

The worker tests run a real worker process on a stand-in stage whose handler is slow on
purpose, so they exercise the Celery adapter and not any stage's own logic.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
from click.testing import CliRunner

from services.cli import main
from services.common.bus import queue_name
from services.common.health import RedisUnreachable, check_redis, wait_for_redis
from services.devenv.redis_server import find_redis_server
from tests.deploy.slow_worker import publish, wait_for

REDIS_PASSWORD = "probe-test-password-0123"


def _dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[[str], dict[str, str]]:
    for key in [key for key in os.environ if key.startswith("SHIPLINE_")]:
        monkeypatch.delenv(key)

    def make(url: str) -> dict[str, str]:
        return {
            "SHIPLINE_REDIS_URL": url,
            "SHIPLINE_WORKDIR": str(tmp_path),
            "SHIPLINE_HEARTBEAT_DIR": str(tmp_path / "heartbeat"),
        }

    return make


# --- shipline probe: the heartbeat ---------------------------------------------------------


def test_the_probe_fails_naming_the_file_before_any_worker_beat(
    env: Callable[[str], dict[str, str]], tmp_path: Path
) -> None:
    result = CliRunner().invoke(main, ["probe", "builder"], env=env("unused"))

    assert result.exit_code == 1
    assert f"builder: no heartbeat yet ({tmp_path / 'heartbeat' / 'builder'})" in result.output


def test_check_redis_reports_a_redis_that_refuses_the_client(redis_url: str) -> None:
    wrong_db = redis_url.rsplit("/", 1)[0] + "/99999"  # a database Redis does not have

    with pytest.raises(RedisUnreachable, match="ResponseError|DB index"):
        check_redis(wrong_db, timeout=2)


# --- waiting for Redis at start-up ---------------------------------------------------------


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def test_wait_for_redis_returns_at_once_when_redis_answers(redis_url: str) -> None:
    fake = FakeTime()

    assert wait_for_redis(redis_url, sleep=fake.sleep, clock=fake.clock) == 1
    assert fake.sleeps == []


def test_wait_for_redis_backs_off_exponentially_then_gives_up_at_the_deadline() -> None:
    fake = FakeTime()
    retries: list[tuple[int, float]] = []
    url = f"redis://:{REDIS_PASSWORD}@127.0.0.1:{_dead_port()}/0"

    with pytest.raises(RedisUnreachable, match="gave up after") as failure:
        wait_for_redis(
            url,
            deadline=60,
            first_delay=1,
            max_delay=8,
            timeout=1,
            sleep=fake.sleep,
            clock=fake.clock,
            on_retry=lambda attempt, delay, _reason: retries.append((attempt, delay)),
        )

    assert REDIS_PASSWORD not in str(failure.value)
    assert 60 <= fake.now <= 61
    ceilings = [min(8, 2 ** (attempt - 1)) for attempt, _ in retries]
    assert all(
        ceiling / 2 <= delay <= ceiling or delay == fake.sleeps[-1]  # the last one is cut short
        for (_, delay), ceiling in zip(retries, ceilings, strict=True)
    )
    assert max(fake.sleeps) <= 8 and len(fake.sleeps) >= 60 / 8


# --- a real worker process ---------------------------------------------------------------------


def test_sigterm_lets_the_running_task_finish_and_leaves_the_next_one_queued(
    redis_url: str,
    redis_client: redis.Redis,
    start_worker: Callable[[str, float], subprocess.Popen[bytes]],
    tmp_path: Path,
) -> None:
    log = tmp_path / "worker.log"
    worker = start_worker(redis_url, 3.0)
    publish(redis_url, "first", "second")
    wait_for(lambda: redis_client.llen("test:started") == 1, 60, "no task started", log)

    worker.send_signal(signal.SIGTERM)  # what the kubelet sends at scale-down or rollout
    returncode = worker.wait(timeout=60)

    assert returncode == 0, log.read_text(errors="replace")[-3000:]
    assert redis_client.lrange("test:finished", 0, -1) == [b"first"]
    assert redis_client.llen("test:started") == 1, "the worker took a task while stopping"
    [waiting] = redis_client.lrange(queue_name("notifier"), 0, -1)
    assert b"second" in waiting, "the unstarted task is not back in the queue"
    assert redis_client.hlen("unacked") == 0, "a finished task was left unacknowledged"


def test_a_worker_started_before_redis_waits_for_it_then_serves(
    start_worker: Callable[[str, float], subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    port = _dead_port()
    url = f"redis://:{REDIS_PASSWORD}@127.0.0.1:{port}/0"
    log = tmp_path / "worker.log"
    worker = start_worker(url, 0.0)
    wait_for(lambda: "waiting for Redis" in log.read_text(errors="replace"), 30, "no wait", log)
    assert worker.poll() is None, "the worker exited instead of waiting for Redis"

    server = subprocess.Popen(
        [str(find_redis_server()), "-", "--port", str(port), "--bind", "127.0.0.1", "--save", ""],
        cwd=tmp_path,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    assert server.stdin is not None
    with server.stdin as config:  # the password as RedisServer gives it: not in argv
        config.write(f"requirepass {REDIS_PASSWORD}\n".encode())
    try:
        client = redis.Redis.from_url(url)
        wait_for(lambda: _answers(client), 15, "redis-server did not start", log)
        publish(url, "after-redis")
        wait_for(
            lambda: client.lrange("test:finished", 0, -1) == [b"after-redis"],
            60,
            "the worker did not serve once Redis was up",
            log,
        )
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=60) == 0
        client.close()
        assert REDIS_PASSWORD not in log.read_text(errors="replace")
    finally:
        server.terminate()
        server.wait(timeout=10)


def _answers(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False

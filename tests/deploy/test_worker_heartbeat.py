"""Worker health from the worker: a real worker beats from its consumer loop; the probe the
manifests run reads the heartbeat's age (no settings, no Redis); a Redis outage makes the
worker wait, still live, while a frozen worker fails the probe."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from click.testing import CliRunner

from services.cli import main
from services.devenv._process import free_port
from services.devenv.redis_server import find_redis_server
from tests.deploy.slow_worker import REPO, StartWorker, publish, wait_for

PASSWORD = "heartbeat-test-password-0123"
WINDOW = 6.0  # the liveness window the probes below are given (--max-age)


def probe(tmp_path: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    """The Kubernetes exec probe, as a fresh process with nothing but the heartbeat directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPLINE_")}
    env["SHIPLINE_HEARTBEAT_DIR"] = str(tmp_path / "heartbeat")
    command = [sys.executable, "-m", "services.common.heartbeat", "notifier", *arguments]
    return subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=30)


def consuming(tmp_path: Path) -> bool:
    return probe(tmp_path, "--ready").returncode == 0


class RedisOnPort:
    """A redis-server of the test's own, stopped and started again on the same port."""

    def __init__(self, directory: Path, port: int) -> None:
        self.directory, self.port = directory, port
        self.url = f"redis://:{PASSWORD}@127.0.0.1:{port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        argv = [str(find_redis_server()), "-", "--port", str(self.port), "--bind", "127.0.0.1"]
        self.process = subprocess.Popen(
            [*argv, "--save", ""],
            cwd=self.directory,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        assert self.process.stdin is not None
        with self.process.stdin as config:
            config.write(f"requirepass {PASSWORD}\n".encode())
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 15
        while not _answers(client):
            assert time.monotonic() < deadline, "redis-server did not start within 15 s"
            time.sleep(0.1)
        client.close()

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


def _answers(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisOnPort]:
    server = RedisOnPort(tmp_path, free_port())
    server.start()
    yield server
    server.stop()


def test_a_consuming_worker_beats_and_shipline_probe_reads_it_without_settings_or_redis(
    redis_url: str, start_worker: StartWorker, tmp_path: Path
) -> None:
    log = tmp_path / "worker.log"
    start_worker(redis_url, 0.0)
    wait_for(lambda: consuming(tmp_path), 60, "the worker consuming", log)
    env = {"SHIPLINE_HEARTBEAT_DIR": str(tmp_path / "heartbeat"), "SHIPLINE_CONFIG": ""}

    first = CliRunner().invoke(main, ["probe", "notifier", "--ready"], env=env)
    time.sleep(2 * 2.0 + 0.5)  # two beats later
    again = probe(tmp_path, "--max-age", "3")
    every = CliRunner().invoke(main, ["probe"], env=env)  # no stage: every worker beating here

    assert first.exit_code == 0, first.output
    assert first.output.startswith("ok: notifier: consuming")
    assert again.returncode == 0, again.stderr
    assert every.exit_code == 0 and "notifier: consuming" in every.output


def test_with_redis_stopped_the_worker_waits_live_and_serves_again_when_it_returns(
    own_redis: RedisOnPort, start_worker: StartWorker, tmp_path: Path
) -> None:
    log = tmp_path / "worker.log"
    worker = start_worker(own_redis.url, 0.0)
    wait_for(lambda: consuming(tmp_path), 60, "the worker consuming", log)

    own_redis.stop()
    outage_started = time.monotonic()
    answers = []
    while time.monotonic() - outage_started < 2.5 * WINDOW:  # longer than the liveness window
        answers.append(probe(tmp_path, "--max-age", str(WINDOW)))
        time.sleep(1)
    not_ready = probe(tmp_path, "--ready")
    own_redis.start()
    wait_for(lambda: consuming(tmp_path), 90, "the worker consuming again", log)
    publish(own_redis.url, "after-the-outage")
    client = redis.Redis.from_url(own_redis.url)
    wait_for(
        lambda: client.lrange("test:finished", 0, -1) == [b"after-the-outage"],
        60,
        "the worker serving after the outage",
        log,
    )
    client.close()

    assert [a.returncode for a in answers] == [0] * len(answers), [a.stderr for a in answers]
    assert "notifier: waiting for Redis" in answers[-1].stdout
    assert not_ready.returncode == 1 and "not ready: notifier: waiting for Redis" in (
        not_ready.stderr
    )
    assert worker.poll() is None, "the worker exited during the outage"


def test_a_frozen_worker_stops_beating_and_the_probe_fails_until_it_runs_again(
    redis_url: str, start_worker: StartWorker, tmp_path: Path
) -> None:
    log = tmp_path / "worker.log"
    worker = start_worker(redis_url, 0.0)
    wait_for(lambda: consuming(tmp_path), 60, "the worker consuming", log)

    os.kill(worker.pid, signal.SIGSTOP)  # the consumer loop's process, hung
    try:
        time.sleep(WINDOW + 1.5)
        frozen = probe(tmp_path, "--max-age", str(WINDOW))
    finally:
        os.kill(worker.pid, signal.SIGCONT)
    wait_for(lambda: probe(tmp_path, "--max-age", "3").returncode == 0, 30, "beats again", log)

    assert frozen.returncode == 1
    assert "notifier: no heartbeat for" in frozen.stderr
    assert "the worker's consumer loop is stuck" in frozen.stderr


def test_a_worker_waiting_for_redis_at_start_beats_while_it_waits(
    start_worker: StartWorker, tmp_path: Path
) -> None:
    log = tmp_path / "worker.log"
    start_worker(f"redis://:{PASSWORD}@127.0.0.1:1/0", 0.0)
    wait_for(lambda: "waiting for Redis" in log.read_text(errors="replace"), 30, "no wait", log)
    time.sleep(WINDOW + 1)

    answer = probe(tmp_path, "--max-age", str(WINDOW + 6))  # the start-up wait backs off to 10 s

    assert answer.returncode == 0, answer.stderr
    assert "notifier: waiting for Redis" in answer.stdout

"""A real worker process on a stand-in stage (the notifier's queue) whose handler records its
start, sleeps as long as the test asks, and records its end: the Celery adapter under test,
not any stage's own logic. The `start_worker` fixture is in tests/deploy/conftest.py."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from services.common.bus import create_celery, queue_name, task_name
from services.common.events import StageFailed, encode_event

REPO = Path(__file__).resolve().parents[2]
StartWorker = Callable[[str, float], subprocess.Popen[bytes]]

# A worker of the notifier queue whose handler records its start, sleeps, records its end.
SLOW_WORKER = """
import sys, time
from services.common import worker
from services.common.events import StageFailed
from services.common.runtime import Runtime
from services.common.settings import load_settings
from services.common.stage import StageDefinition

def factory(runtime):
    def handle(event):
        runtime.redis.rpush("test:started", event.message)
        time.sleep(float(sys.argv[1]))
        runtime.redis.rpush("test:finished", event.message)
        return ()
    return handle

worker.load_definition = lambda stage: StageDefinition(
    name=stage, consumes=(StageFailed,), factory=factory,
    tracks_service=False, reports_failures=False,
)
worker.run_worker(Runtime(load_settings()), "notifier", concurrency=1)
"""


def publish(redis_url: str, *messages: str) -> None:
    celery = create_celery(redis_url, visibility_timeout=900)
    for message in messages:
        event = StageFailed(
            run_id="lifecycle", stage="builder", error_class="Test", message=message
        )
        celery.send_task(
            task_name("notifier"),
            args=[encode_event(event)],
            queue=queue_name("notifier"),
            task_id=str(event.event_id),
        )


def wait_for(condition: Callable[[], bool], timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    pytest.fail(f"{what} within {timeout}s; worker log:\n{log.read_text(errors='replace')[-3000:]}")


def worker_starter(tmp_path: Path) -> Iterator[StartWorker]:
    started: list[subprocess.Popen[bytes]] = []
    script = tmp_path / "slow_worker.py"
    script.write_text(SLOW_WORKER)

    def start(url: str, task_seconds: float) -> subprocess.Popen[bytes]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPLINE_")}
        env |= {
            "SHIPLINE_REDIS_URL": url,
            "SHIPLINE_WORKDIR": str(tmp_path),
            "SHIPLINE_HEARTBEAT_DIR": str(tmp_path / "heartbeat"),
        }
        with (tmp_path / "worker.log").open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, str(script), str(task_seconds)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=REPO,
            )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()

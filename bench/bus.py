"""Events per second through Shipline's bus (Bus.publish → a Celery worker, two processes)
against raw Redis LPUSH/BRPOP between two processes, on a Redis of its own; from the same
rounds, the publishing side alone (the producer's own rate while the consumer takes); and
in each round the consuming side alone (a worker started on a queue filled beforehand,
from its first take to its last): which of the two bounds the bus."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import redis

from bench.bus_peers import COUNT_KEY, END_KEY, FIRST_KEY, PRODUCED_KEY, RAW_QUEUE, START_KEY
from bench.figures import Figure, Target, alternate, print_figure
from bench.stack import environment
from services.devenv.redis_server import RedisServer

CELERY_EVENTS = 1500
RAW_EVENTS = 15000


class Peers:
    """A consumer process of one transport, kept running across rounds."""

    def __init__(self, transport: str, url: str, logs: Path) -> None:
        self.transport = transport
        self.url = url
        self.logs = logs
        self.consumer: subprocess.Popen[bytes] | None = None
        self.client = redis.Redis.from_url(url)

    def _spawn(self, role: str, count: int) -> subprocess.Popen[bytes]:
        log = (self.logs / f"bus-{self.transport}-{role}.log").open("ab")
        argv = [sys.executable, "-m", "bench.bus_peers", self.transport, role, str(count)]
        with log:
            return subprocess.Popen(
                argv,
                env={**environment(), "SHIPLINE_REDIS_URL": self.url},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def rate(self, count: int, timeout: float = 300) -> tuple[float, float, float]:
        """Events per second from the producer's first publish to the consumer's last take,
        and to the producer's last publish; then a consumer's alone, draining `count` events
        queued before it starts, from its first take to its last."""
        if self.consumer is None or self.consumer.poll() is not None:
            self.consumer = self._spawn("consume", count)
        self._clear()
        producer = self._spawn("produce", count)
        self._wait_for(END_KEY, producer, timeout)
        producer.wait(timeout=60)
        start, end = self._stamp(START_KEY), self._stamp(END_KEY)
        produced = self._stamp(PRODUCED_KEY)
        through, publishing = count / (end - start), count / (produced - start)

        self._stop_consumer()
        self._clear()
        producer = self._spawn("produce", count)
        self._wait_for(PRODUCED_KEY, producer, timeout)
        self.consumer = self._spawn("consume", count)
        self._wait_for(END_KEY, self.consumer, timeout)
        draining = (count - 1) / (self._stamp(END_KEY) - self._stamp(FIRST_KEY))
        return through, publishing, draining

    def _clear(self) -> None:
        self.client.delete(COUNT_KEY, START_KEY, FIRST_KEY, END_KEY, PRODUCED_KEY, RAW_QUEUE)

    def _stamp(self, key: str) -> float:
        return float(self.client.get(key) or 0)

    def _wait_for(self, key: str, process: subprocess.Popen[bytes], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self.client.exists(key):
            if time.monotonic() > deadline or process.poll() not in (None, 0):
                raise RuntimeError(f"bus benchmark ({self.transport}) stalled; see {self.logs}")
            time.sleep(0.01)

    def _stop_consumer(self) -> None:
        if self.consumer is not None and self.consumer.poll() is None:
            os.killpg(self.consumer.pid, signal.SIGTERM)
            try:
                self.consumer.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.consumer.pid, signal.SIGKILL)
                self.consumer.wait()
        self.consumer = None

    def close(self) -> None:
        self._stop_consumer()
        self.client.close()


def bus_throughput(workdir: Path, rounds: int, scale: float = 1.0) -> list[Figure]:
    logs = workdir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    celery_events, raw_events = int(CELERY_EVENTS * scale), int(RAW_EVENTS * scale)
    with RedisServer(workdir / "bus-redis") as server:
        celery, raw = Peers("celery", server.url, logs), Peers("redis", server.url, logs)
        try:
            ours, baseline = alternate(
                rounds, [lambda: celery.rate(celery_events), lambda: raw.rate(raw_events)]
            )
        finally:
            celery.close()
            raw.close()
    through = Figure(
        "bus",
        "events/s, publish → consume",
        "events/s",
        [through for through, _, _ in ours],
        "raw LPUSH/BRPOP",
        [through for through, _, _ in baseline],
        target=Target(0.5, "higher"),
        limit="both sides below, sharing the CPUs: Bus.publish writes the run store, the "
        "event log and a task message, Celery's worker runs a task; the raw side does neither",
    )
    publishing = Figure(
        "bus",
        "events/s, publishing side",
        "events/s",
        [published for _, published, _ in ours],
        "raw LPUSH",
        [published for _, published, _ in baseline],
        limit="Bus.publish: one Redis round trip per event (one script: run store, event "
        "log, queue) and the Python that builds it and logs it; the consumer takes meanwhile",
    )
    consuming = Figure(
        "bus",
        "events/s, consuming side",
        "events/s",
        [drained for _, _, drained in ours],
        "raw BRPOP",
        [drained for _, _, drained in baseline],
        limit="Celery's own work per task (its request, trace, ack) around one Redis round "
        "trip (bus_transport.py: take, record, acknowledge the last in one script)",
    )
    for figure in (through, publishing, consuming):
        print_figure(figure)
    return [through, publishing, consuming]

"""Events per second through Shipline's bus (Bus.publish → a Celery worker, two processes)
against raw Redis LPUSH/BRPOP between two processes, on a Redis of its own; and, from the
same rounds, the publishing side alone (the producer's own rate while the consumer takes),
which tells whether the publish or the worker bounds the bus."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import redis

from bench.bus_peers import COUNT_KEY, END_KEY, PRODUCED_KEY, RAW_QUEUE, START_KEY
from bench.figures import Figure, alternate, print_figure
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

    def rate(self, count: int, timeout: float = 300) -> tuple[float, float]:
        """Events per second from the producer's first publish to the consumer's last take,
        and to the producer's last publish."""
        if self.consumer is None or self.consumer.poll() is not None:
            self.consumer = self._spawn("consume", count)
        self.client.delete(COUNT_KEY, START_KEY, END_KEY, PRODUCED_KEY, RAW_QUEUE)
        producer = self._spawn("produce", count)
        deadline = time.monotonic() + timeout
        while not self.client.exists(END_KEY):
            if time.monotonic() > deadline or producer.poll() not in (None, 0):
                raise RuntimeError(f"bus benchmark ({self.transport}) stalled; see {self.logs}")
            time.sleep(0.01)
        producer.wait(timeout=60)
        start, end = float(self.client.get(START_KEY) or 0), float(self.client.get(END_KEY) or 0)
        produced = float(self.client.get(PRODUCED_KEY) or 0)
        return count / (end - start), count / (produced - start)

    def close(self) -> None:
        if self.consumer is not None and self.consumer.poll() is None:
            os.killpg(self.consumer.pid, signal.SIGTERM)
            try:
                self.consumer.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.consumer.pid, signal.SIGKILL)
                self.consumer.wait()
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
        [through for through, _ in ours],
        "raw LPUSH/BRPOP",
        [through for through, _ in baseline],
        limit="the Celery worker: it acks late and prefetches one, a prefork child decodes "
        "(the publishing side below is faster)",
    )
    publishing = Figure(
        "bus",
        "events/s, publishing side",
        "events/s",
        [published for _, published in ours],
        "raw LPUSH",
        [published for _, published in baseline],
        limit="Bus.publish: one Redis round trip per event (one script: run store, event "
        "log, queue) and the Python that builds it; the consumer takes meanwhile",
    )
    for figure in (through, publishing):
        print_figure(figure)
    return [through, publishing]

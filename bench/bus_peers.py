"""The two processes of the bus benchmark, one per role and transport:

    SHIPLINE_REDIS_URL=... python -m bench.bus_peers {celery,redis} {consume,produce} COUNT

(the URL carries the Redis password: in the environment, not in the argument list).

Consumers count what they take in Redis (`bench:bus:count`) and stamp `bench:bus:first` at
the first and `bench:bus:end` at COUNT; producers stamp `bench:bus:start`, publish COUNT
events one at a time, then stamp `bench:bus:produced`. Celery's side is Shipline's:
`Bus.publish` (run store, event log, queue: one script, one round trip) to the notifier's
queue, and a worker with Shipline's Celery settings (its transport:
services/common/bus_transport.py; the notifier's pool, `pool:`) whose task decodes the
event and counts it. The raw side LPUSHes the event's JSON and BRPOPs, decodes and counts.
"""

from __future__ import annotations

import os
import sys
import time

import redis

from services.common.bus import create_celery, queue_name, task_name
from services.common.events import StageFailed, decode_event, encode_event

COUNT_KEY = "bench:bus:count"
START_KEY = "bench:bus:start"
END_KEY = "bench:bus:end"
FIRST_KEY = "bench:bus:first"
PRODUCED_KEY = "bench:bus:produced"
RAW_QUEUE = "bench:bus:raw"


def event() -> StageFailed:
    return StageFailed(run_id="bench-bus", stage="bench", error_class="Bench", message="x")


def counted(client: redis.Redis, total: int) -> None:
    count = client.incr(COUNT_KEY)
    if count == 1:
        client.set(FIRST_KEY, time.time())
    if count == total:
        client.set(END_KEY, time.time())


def celery_consume(url: str, total: int) -> None:
    from services.common.settings import Settings
    from services.common.worker import load_definition, stage_pool

    app = create_celery(url, visibility_timeout=900)
    pool = stage_pool(Settings(redis_url=url), load_definition("notifier"))  # SHIPLINE_POOL
    client = redis.Redis.from_url(url)

    @app.task(name=task_name("notifier"))
    def handle(payload: str) -> None:
        decode_event(payload)
        counted(client, total)

    app.worker_main(
        [
            "worker",
            f"--queues={queue_name('notifier')}",
            "--concurrency=1",
            "--loglevel=WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            f"--pool={pool}",
        ]
    )


def celery_produce(url: str, total: int) -> None:
    from services.common.runtime import Runtime
    from services.common.settings import Settings

    runtime = Runtime(Settings.model_validate({"redis_url": url}))
    events = [event() for _ in range(total)]
    runtime.redis.set(START_KEY, time.time())
    for item in events:
        runtime.bus.publish(item)
    runtime.redis.set(PRODUCED_KEY, time.time())


def redis_consume(url: str, total: int) -> None:
    client = redis.Redis.from_url(url)
    while True:
        # a bounded wait: the client's socket times out (redis-py: 5 s) while the other
        # transport's rounds run
        taken = client.brpop([RAW_QUEUE], timeout=1)
        if taken is not None:
            decode_event(taken[1])
            counted(client, total)


def redis_produce(url: str, total: int) -> None:
    client = redis.Redis.from_url(url)
    payloads = [encode_event(event()) for _ in range(total)]
    client.set(START_KEY, time.time())
    for payload in payloads:
        client.lpush(RAW_QUEUE, payload)
    client.set(PRODUCED_KEY, time.time())


ROLES = {
    ("celery", "consume"): celery_consume,
    ("celery", "produce"): celery_produce,
    ("redis", "consume"): redis_consume,
    ("redis", "produce"): redis_produce,
}


if __name__ == "__main__":
    transport, role, count = sys.argv[1:4]
    ROLES[(transport, role)](os.environ["SHIPLINE_REDIS_URL"], int(count))

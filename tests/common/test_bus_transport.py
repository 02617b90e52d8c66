"""The worker's side of the bus (services/common/bus_transport.py) on a real Redis: a message
is taken and recorded as unacknowledged in one step, acknowledged at the next fetch, and a
dead worker's messages are put back by kombu's own restore."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from kombu import Connection, Consumer, Message, Queue

from services.common.bus import create_celery, queue_name, task_messages
from services.common.bus_transport import Transport
from services.common.events import StageFailed, encode_event
from services.common.runtime import Runtime
from services.common.settings import Settings

QUEUE = queue_name("notifier")  # where StageFailed goes


@pytest.fixture
def runtime(redis_url: str, tmp_path: Path) -> Iterator[Runtime]:
    runtime = Runtime(Settings(redis_url=redis_url, workdir=tmp_path))
    yield runtime
    runtime.celery.close()
    runtime.redis.close()


def queue(runtime: Runtime, number: int) -> None:
    """Queue a StageFailed for the notifier as Bus.publish queues it (its run left out)."""
    event = StageFailed(run_id="run-bus", stage="builder", error_class="Boom", message=str(number))
    ((name, message),) = task_messages(runtime.celery, event, encode_event(event))
    runtime.redis.lpush(name, message)


class Taker:
    """A worker's consuming connection (the app's transport, prefetch 1), its messages kept
    unacknowledged until the test acknowledges them."""

    def __init__(self, redis_url: str) -> None:
        self.celery = create_celery(redis_url, visibility_timeout=900)
        self.connection: Connection = self.celery.connection_for_read()
        self.taken: list[Message] = []
        self.consumer = Consumer(
            self.connection.channel(),
            [Queue(QUEUE, routing_key=QUEUE)],
            callbacks=[lambda _body, message: self.taken.append(message)],
            accept=["json"],
        )
        self.consumer.qos(prefetch_count=1)
        self.consumer.consume()

    def take(self) -> Message:
        before = len(self.taken)
        self.connection.drain_events(timeout=5)
        assert len(self.taken) == before + 1
        return self.taken[-1]

    def idle(self) -> None:
        """One more fetch that finds nothing (it writes the acknowledgements since the last)."""
        with pytest.raises(TimeoutError):
            self.connection.drain_events(timeout=1.5)

    def close(self) -> None:
        self.connection.close()
        self.celery.close()


@pytest.fixture
def taker(redis_url: str) -> Iterator[Taker]:
    taker = Taker(redis_url)
    yield taker
    taker.close()


def test_the_worker_uses_the_one_step_transport(taker: Taker) -> None:
    assert isinstance(taker.connection.transport, Transport)


def test_a_taken_message_is_recorded_unacknowledged_as_kombu_records_it(
    runtime: Runtime, taker: Taker, redis_client: redis.Redis
) -> None:
    queue(runtime, 1)
    queued = json.loads(redis_client.lindex(QUEUE, -1))

    message = taker.take()

    tag = message.delivery_tag
    assert redis_client.zscore("unacked_index", tag) is not None
    recorded, exchange, routing_key = json.loads(redis_client.hget("unacked", tag))
    assert (recorded, exchange, routing_key) == (queued, "", QUEUE)
    assert redis_client.llen(QUEUE) == 0


def test_acknowledged_messages_are_forgotten_at_the_next_fetch_or_at_close(
    runtime: Runtime, taker: Taker, redis_client: redis.Redis
) -> None:
    for number in range(3):
        queue(runtime, number)
    first = taker.take()
    first.ack()
    second = taker.take()  # this fetch wrote the first's acknowledgement

    assert redis_client.hkeys("unacked") == [second.delivery_tag.encode()]
    second.ack()
    taker.take().ack()
    taker.idle()
    assert redis_client.hlen("unacked") == redis_client.zcard("unacked_index") == 0

    queue(runtime, 4)
    taker.take().ack()
    taker.close()
    assert redis_client.hlen("unacked") == redis_client.zcard("unacked_index") == 0


def test_a_dead_workers_message_is_put_back_by_kombus_own_restore(
    runtime: Runtime, taker: Taker, redis_client: redis.Redis, redis_url: str
) -> None:
    queue(runtime, 7)
    queued = json.loads(redis_client.lindex(QUEUE, -1))
    tag = taker.take().delivery_tag
    assert redis_client.llen(QUEUE) == 0

    # the worker dies here; another process's plain kombu restores what it left
    with Connection(redis_url) as other:
        other.default_channel.qos.restore_by_tag(tag)

    (restored,) = [json.loads(item) for item in redis_client.lrange(QUEUE, 0, -1)]
    assert restored["body"] == queued["body"]
    assert restored["headers"]["id"] == queued["headers"]["id"]
    assert redis_client.hlen("unacked") == 0


def test_a_busy_worker_takes_and_acknowledges_each_message_in_one_command(
    runtime: Runtime, taker: Taker, redis_client: redis.Redis
) -> None:
    for number in range(20):
        queue(runtime, number)
    redis_client.config_resetstat()

    for _ in range(20):
        taker.take().ack()
    taker.idle()

    calls = {
        name.removeprefix("cmdstat_"): stats["calls"]
        for name, stats in redis_client.info("commandstats").items()
    }
    assert calls["eval"] == 21  # 20 takes, then the one that wrote the last ack
    # no transaction of its own (kombu's sweep for dead workers' messages WATCHes its mutex)
    assert calls.get("multi", 0) <= calls.get("watch", 0)
    assert redis_client.hlen("unacked") == 0 and redis_client.llen(QUEUE) == 0

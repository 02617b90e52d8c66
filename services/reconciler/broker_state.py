"""What kombu's Redis transport holds: the task ids queued per stage, and unacknowledged.

kombu keeps a queue as a list of JSON messages (LPUSH to publish, BRPOP to take; a message
with a priority goes to `<queue>\\x06\\x16<priority>`), and every message a worker took but
has not acknowledged in the hash `unacked` (delivery tag -> JSON [message, exchange,
routing key]). A message's task id is its `headers.id` (Celery's protocol 2). These keys
are Celery's, outside Shipline's namespace (services/common/keyspace.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from services.common.bus import queue_name

UNACKED_KEY = "unacked"  # kombu.transport.redis.Channel.unacked_key
PRIORITY_SEPARATOR = "\x06\x16"  # kombu.transport.redis.Channel.sep
PRIORITY_STEPS = (3, 6, 9)  # kombu's steps after 0, the queue's own list
QUEUE_READ_LIMIT = 5000  # messages read per queue and pass; a longer queue counts as unknown


class BrokerReads(Protocol):
    """The commands the broker's state is read with (redis.Redis has them)."""

    def pipeline(self, transaction: bool = True) -> Any: ...
    def hvals(self, name: str) -> Any: ...


def task_id_of_message(raw: bytes | str) -> str | None:
    """The task id of a queued message (kombu's JSON), None if it has none."""
    try:
        message = json.loads(raw)
        return str(message["headers"]["id"])
    except (ValueError, KeyError, TypeError):
        return None


def task_id_of_unacked(raw: bytes | str) -> str | None:
    """The task id of an `unacked` entry: JSON [message, exchange, routing key]."""
    try:
        message = json.loads(raw)[0]
        return str(message["headers"]["id"])
    except (ValueError, KeyError, TypeError, IndexError):
        return None


def queue_keys(stage: str) -> list[str]:
    queue = queue_name(stage)
    return [queue, *(f"{queue}{PRIORITY_SEPARATOR}{step}" for step in PRIORITY_STEPS)]


@dataclass
class BrokerState:
    """Task ids seen queued (per stage) and unacknowledged; `unknown_stages` have a queue
    longer than the read limit, so none of their deliveries counts as missing."""

    queued: dict[str, set[str]] = field(default_factory=dict)
    unknown_stages: set[str] = field(default_factory=set)
    unacked: set[str] = field(default_factory=set)

    def is_queued(self, stage: str, task: str) -> bool | None:
        if stage in self.unknown_stages:
            return None
        return task in self.queued.get(stage, set())

    def is_unacked(self, task: str) -> bool:
        return task in self.unacked


def read_queues(client: BrokerReads, stages: Iterable[str], state: BrokerState) -> None:
    """Read the queue lists of `stages` into `state`: first the queues, then `unacked`, the
    order a message moves in, so one that moves while they are read is still seen."""
    for stage in sorted(set(stages)):
        pipe = client.pipeline(transaction=False)
        for key in queue_keys(stage):
            pipe.llen(key)
            pipe.lrange(key, 0, QUEUE_READ_LIMIT - 1)
        replies = pipe.execute()
        lengths, lists = replies[0::2], replies[1::2]
        if any(length > QUEUE_READ_LIMIT for length in lengths):
            state.unknown_stages.add(stage)
        ids = (task_id_of_message(raw) for messages in lists for raw in messages)
        state.queued[stage] = {task for task in ids if task is not None}


def read_unacked(client: BrokerReads, state: BrokerState) -> None:
    ids = (task_id_of_unacked(raw) for raw in client.hvals(UNACKED_KEY))
    state.unacked = {task for task in ids if task is not None}


def read_broker(client: BrokerReads, stages: Iterable[str]) -> BrokerState:
    state = BrokerState()
    read_queues(client, stages, state)
    read_unacked(client, state)
    return state

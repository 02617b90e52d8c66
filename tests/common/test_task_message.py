"""The task message the gateway queues itself is the one kombu would have queued, and a
Celery worker runs it."""

from __future__ import annotations

import base64
import json
from typing import Any

import redis

from services.common.bus import create_celery, queue_name, task_name
from services.common.task_message import task_message

ARGS = ['{"type": "PushReceived", "run_id": "r-1"}']
REPR = '(PushReceived "quoted" of run r-1)'


def _normalised(raw: bytes | str) -> dict[str, Any]:
    """A queued message with what differs between two sends (delivery tag) taken out."""
    message = json.loads(raw)
    message["properties"].pop("delivery_tag")
    # send_task also copies its argsrepr option into the properties; nothing reads it there
    message["properties"].pop("argsrepr", None)
    message["body"] = json.loads(base64.b64decode(message["body"]))
    return message


def test_the_message_is_byte_for_byte_what_kombu_queues(
    redis_url: str, redis_client: redis.Redis
) -> None:
    celery = create_celery(redis_url, 60)
    queue = queue_name("detector")
    redis_client.delete(queue)
    celery.send_task(task_name("detector"), args=ARGS, queue=queue, task_id="t-1", argsrepr=REPR)
    sent_by_kombu = redis_client.lpop(queue)
    assert sent_by_kombu is not None

    ours = task_message(celery, task_name("detector"), ARGS, "t-1", queue, REPR)

    assert _normalised(ours) == _normalised(sent_by_kombu)
    assert json.loads(ours)["properties"]["delivery_tag"]


def test_kombu_consumes_it_as_the_task_with_its_arguments(
    redis_url: str, redis_client: redis.Redis
) -> None:
    celery = create_celery(redis_url, 60)
    queue = "shipline.test-task-message"
    redis_client.delete(queue)
    redis_client.lpush(queue, task_message(celery, "shipline.test.record", ARGS, "t-2", queue, "x"))

    with celery.connection_for_read() as connection, connection.SimpleQueue(queue) as simple:
        message = simple.get(timeout=5)
        message.ack()

    assert message.headers["task"] == "shipline.test.record"
    assert message.headers["id"] == "t-2"
    args, kwargs, _embed = message.decode()
    assert (args, kwargs) == (ARGS, {})

"""A Celery task message exactly as kombu's Redis transport stores it in a queue's list.

The gateway queues a run's trigger inside the one Redis script that also dedupes and
records it (services/gateway/intake.py), so it needs the bytes kombu would LPUSH rather
than a publish. Celery builds the message (headers, body); this module only wraps it the
way kombu.transport.redis does for a queue bound to its own direct exchange: body
serialized as JSON (the app's task_serializer) and base64-encoded, delivered with
routing key = queue name.

Only four things differ between two messages for one task and queue: the task id, the
argument's repr, the body and the delivery tag. The message is built once through Celery
with a marker in each of those places and then filled in, which costs a tenth of
building it each time. tests/common/test_task_message.py checks the result against what
kombu really writes.
"""

from __future__ import annotations

import base64
import json
import uuid
from functools import lru_cache
from typing import Any

from celery import Celery

PERSISTENT = 2  # AMQP delivery mode; kombu's default for Celery
_MARKERS = ("@@task-id@@", "@@argsrepr@@", "@@body@@", "@@delivery-tag@@")


def task_message(
    celery: Celery, task: str, args: list[Any], task_id: str, queue: str, argsrepr: str
) -> str:
    """The JSON kombu's Redis transport would push onto the list named `queue` when
    `celery.send_task(task, args, task_id=task_id, queue=queue)` sends it."""
    template = _template(celery, task, queue, celery.thread_oid)
    body = json.dumps([args, {}, template.embed]).encode()
    values = {
        "@@task-id@@": json.dumps(task_id),
        "@@argsrepr@@": json.dumps(argsrepr),
        "@@body@@": f'"{base64.b64encode(body).decode("ascii")}"',
        "@@delivery-tag@@": f'"{uuid.uuid4()}"',
    }
    return "".join(values.get(part, part) for part in template.parts)


class _Template:
    def __init__(self, parts: list[str], embed: dict[str, Any]) -> None:
        self.parts = parts
        self.embed = embed


@lru_cache(maxsize=64)
def _template(celery: Celery, task: str, queue: str, reply_to: str) -> _Template:
    task_id, argsrepr, body, delivery_tag = _MARKERS
    message = celery.amqp.as_task_v2(
        task_id,
        task,
        args=[],
        argsrepr=argsrepr,
        kwargsrepr="{}",
        reply_to=reply_to,
        ignore_result=None,  # as send_task passes it: the app's setting decides
    )
    _, _, embed = message.body
    text = json.dumps(
        {
            "body": body,
            "content-encoding": "utf-8",
            "content-type": "application/json",
            "headers": message.headers,
            "properties": {
                **message.properties,
                "delivery_mode": PERSISTENT,
                "delivery_info": {"exchange": "", "routing_key": queue},
                "priority": 0,
                "body_encoding": "base64",
                "delivery_tag": delivery_tag,
            },
        }
    )
    parts = [text]
    for marker in _MARKERS:
        parts = [piece for part in parts for piece in _split_keeping(part, marker)]
    return _Template(parts, embed)


def _split_keeping(text: str, marker: str) -> list[str]:
    """`text` split around each quoted `marker`, the marker (unquoted) kept in between."""
    if text in _MARKERS:
        return [text]
    pieces: list[str] = []
    for index, piece in enumerate(text.split(f'"{marker}"')):
        pieces += [marker, piece] if index else [piece]
    return pieces

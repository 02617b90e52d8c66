"""Re-sending a lost delivery to its stage, as publish() first sent it.

The same task id and event id: the stage dedupes it (claim, then done marker) should the
original turn up after all. Only the one stage's queue is sent to, and neither the run
store nor the event log is written: the event is in both already.
"""

from __future__ import annotations

import contextlib

from celery import Celery

from services.common.bus import queue_name, task_argsrepr, task_name
from services.common.events import encode_event
from services.common.keyspace import Keyspace
from services.common.logging import get_logger
from services.reconciler.decision import Delivery
from services.reconciler.observe import ReconcilerRedis


class Redriver:
    def __init__(
        self, celery: Celery, client: ReconcilerRedis, keys: Keyspace, visibility_timeout: int
    ) -> None:
        self._celery, self._redis, self._keys = celery, client, keys
        self._visibility_timeout = visibility_timeout

    def redrive(self, delivery: Delivery, now: float) -> bool:
        """Re-send `delivery` unless it was within the visibility timeout (by anyone):
        the marker is taken first, so two reconcilers never both send it."""
        event = delivery.event
        marker = self._keys.reconciler_redriven(delivery.stage, event.event_id)
        if not self._redis.set(marker, repr(now), ex=self._visibility_timeout, nx=True):
            return False
        try:
            self._celery.send_task(
                task_name(delivery.stage),
                args=[encode_event(event)],
                queue=queue_name(delivery.stage),
                task_id=delivery.task_id,
                argsrepr=task_argsrepr(event),
            )
        except BaseException:
            with contextlib.suppress(Exception):
                self._redis.delete(marker)  # not sent: the next pass may try again
            raise
        get_logger(run_id=event.run_id, service=delivery.service).warning(
            "lost message re-driven",
            stage=delivery.stage,
            event_type=event.type,
            event_id=str(event.event_id),
            task_id=delivery.task_id,
            published_seconds_ago=round(now - delivery.published_at, 1),
        )
        return True

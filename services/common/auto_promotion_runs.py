"""Starting auto-promotions (services/common/auto_promotion.py): each as a run of its own,
now, or once its soak is over.

A soaking promotion waits in Redis (a sorted set scored by when it is due), never in a
worker: a Celery countdown would hold the message unacknowledged in a worker, and one
waiting longer than the visibility timeout is handed to another worker again and again. The
reconciler's pass publishes the due ones (services/reconciler/due.py). What Redis loses is
not found again: no sweep promotes, and the promotion waits for the next deploy to land.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import redis

from services.common.auto_promotion import REQUESTED_BY, AutoPromotion
from services.common.bus import Bus
from services.common.events import PromotionRequested, decode_event, encode_event
from services.common.keyspace import Keyspace
from services.common.logging import get_logger
from services.common.redis_types import RedisClient, bytes_client
from services.common.runs import RunStore

DUE_PER_PASS = 100


class AutoPromotionRuns:
    def __init__(
        self,
        client: redis.Redis | RedisClient,
        keys: Keyspace,
        runs: RunStore,
        bus: Bus,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._redis, self._keys = bytes_client(client), keys
        self._runs, self._bus, self._clock = runs, bus, clock

    def request(self, promotion: AutoPromotion) -> None:
        """Start `promotion` now, or keep it until its soak is over (counted from when its
        source landed: a redelivered landing asks for the same time)."""
        request = promotion.request
        due = request.occurred_at.timestamp() + promotion.soak_seconds
        if promotion.soak_seconds == 0 or due <= self._clock():
            self.start(request)
            return
        # NX: a redelivered landing neither duplicates the entry nor moves its time
        self._redis.zadd(self._keys.auto_promotions_due, {encode_event(request): due}, nx=True)
        get_logger(run_id=request.run_id).info(
            "auto-promotion soaking",
            services=",".join(request.services),
            to=request.environment,
            due_in=round(due - self._clock(), 1),
        )

    def start(self, request: PromotionRequested) -> bool:
        """Record the request's run and publish it, unless it was published before (the
        event log's marker of its id): False then."""
        if self._redis.exists(self._keys.event_logged(request.event_id)):
            return False
        self._runs.create(
            request.run_id,
            trigger="promotion",
            provider="auto",
            repository=request.repository,
            pusher=REQUESTED_BY,
            ref="",
            commit="",
            services=",".join(request.services),
            environment=request.environment,
        )
        self._runs.plan(request.run_id, list(request.services))
        self._bus.publish(request)
        get_logger(run_id=request.run_id).info(
            "auto-promotion requested", services=",".join(request.services), to=request.environment
        )
        return True

    def start_due(self, leading: Callable[[], bool] = lambda: True) -> int:
        """Publish the promotions whose soak is over (removed once published); how many."""
        key = self._keys.auto_promotions_due
        due = self._redis.zrangebyscore(key, "-inf", self._clock(), start=0, num=DUE_PER_PASS)
        started = 0
        for member in due:
            if not leading():
                break
            request = decode_event(member)
            if isinstance(request, PromotionRequested) and self.start(request):
                started += 1
            self._redis.zrem(key, member)
        return started

    def soaking(self) -> int:
        return int(self._redis.zcard(self._keys.auto_promotions_due))

"""The gitops branch lock: a renewed lease, so a dead committer holds up the others briefly."""

from __future__ import annotations

import threading
import time

import pytest
import redis

from services.committer.lock import held_lock
from services.common.errors import TransientError

KEY = "shipline:lock:gitops:acme/microbank:main"


def test_a_lock_left_by_a_killed_committer_lapses_within_the_lease(redis_client: redis.Redis):
    abandoned = redis_client.lock(KEY, timeout=1.0)  # taken, never released: kill -9
    assert abandoned.acquire(blocking=False)
    started = time.monotonic()

    with held_lock(redis_client, KEY, wait=10, lease=1.0):
        waited = time.monotonic() - started

    assert waited < 2.0


def test_a_live_holder_keeps_the_lock_beyond_its_lease_by_renewing_it(redis_client: redis.Redis):
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with held_lock(redis_client, KEY, wait=5, lease=0.6):
            holding.set()
            release.wait(5)

    holder = threading.Thread(target=hold)
    holder.start()
    holding.wait(5)
    try:
        with pytest.raises(TransientError), held_lock(redis_client, KEY, wait=1.8, lease=0.6):
            pass  # three leases long: it would have lapsed without renewal
    finally:
        release.set()
        holder.join()
    with held_lock(redis_client, KEY, wait=1, lease=0.6):
        pass  # released at once when the holder is done

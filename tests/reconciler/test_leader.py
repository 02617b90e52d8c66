"""One reconciler acts at a time: two loops, each with its own Redis client, share a real
Redis lease; the holder acts, the other waits, and takes over once the holder stops or its
lease lapses."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest
import redis

from services.common.keyspace import DEFAULT_KEYSPACE
from services.reconciler.leader import Leadership, ReconcilerLoop
from services.reconciler.reconcile import PassReport
from tests.workers import wait_until

LEASE = 0.6
KEY = DEFAULT_KEYSPACE.reconciler_leader


class Acts:
    """What each loop's passes did, and how many acted at once."""

    def __init__(self) -> None:
        self.by: list[str] = []
        self.most_at_once = 0
        self._acting: set[str] = set()
        self._lock = threading.Lock()

    def pass_of(self, name: str) -> Callable[[Callable[[], bool]], PassReport]:
        def reconcile(leading: Callable[[], bool]) -> PassReport:
            with self._lock:
                self._acting.add(name)
                self.most_at_once = max(self.most_at_once, len(self._acting))
            time.sleep(0.03)
            with self._lock:
                self._acting.discard(name)
                self.by.append(name)
            return PassReport()

        return reconcile


@pytest.fixture
def clients(redis_url: str, redis_client: redis.Redis) -> Iterator[list[redis.Redis]]:
    made = [redis.Redis.from_url(redis_url) for _ in range(2)]
    yield made
    for client in made:
        client.close()


def started(loop: ReconcilerLoop) -> threading.Thread:
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()
    return thread


def test_two_reconcilers_never_act_at_once_and_the_second_takes_over_when_the_first_stops(
    clients: list[redis.Redis],
) -> None:
    acts = Acts()
    loops = {
        name: ReconcilerLoop(
            Leadership(client, KEY, lease_seconds=LEASE), acts.pass_of(name), 0.1, tick=0.05
        )
        for name, client in zip(("a", "b"), clients, strict=True)
    }
    threads = {name: started(loop) for name, loop in loops.items()}
    wait_until(lambda: len(acts.by) >= 10, 10, "ten passes")
    leader = acts.by[0]
    other = "b" if leader == "a" else "a"

    loops[leader].stop()
    threads[leader].join(5)
    acted = len(acts.by)
    wait_until(lambda: acts.by[acted:].count(other) >= 5, 10, "the other to take over")
    loops[other].stop()
    threads[other].join(5)

    assert set(acts.by[:acted]) == {leader}, "only the lease holder passed while both ran"
    assert set(acts.by[acted:]) == {other}
    assert acts.most_at_once == 1


def test_a_holder_whose_lease_lapsed_and_was_taken_stops_acting(
    clients: list[redis.Redis],
) -> None:
    first = Leadership(clients[0], KEY, lease_seconds=LEASE)
    second = Leadership(clients[1], KEY, lease_seconds=LEASE)
    assert first.hold() and not second.hold()
    clients[1].delete(KEY)  # as if the first stalled past its lease
    assert second.hold()
    time.sleep(LEASE / 3 + 0.05)  # the first renews now, and finds the lease not its own

    assert not first.hold()
    assert second.hold()
    assert not first.hold(), "it waits for the lease to lapse, as any other process"


def test_a_pass_stops_re_driving_once_the_lease_is_lost(clients: list[redis.Redis]) -> None:
    leadership = Leadership(clients[0], KEY, lease_seconds=LEASE)
    asked: list[bool] = []

    def reconcile(leading: Callable[[], bool]) -> PassReport:
        asked.append(leading())
        clients[1].set(KEY, "someone else")
        time.sleep(LEASE / 3 + 0.05)
        asked.append(leading())
        loop.stop()
        return PassReport()

    loop = ReconcilerLoop(leadership, reconcile, 0.1, tick=0.05)
    loop.run()

    assert asked == [True, False]
    assert clients[1].get(KEY) == b"someone else", "a lost lease is not released by its loser"

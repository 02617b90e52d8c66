"""What builders agree on through the real Redis: newest build, per-commit lease, last tag."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import redis

from services.builder.coordination import Coordinator, Newer
from services.common.errors import TransientError
from services.common.events import ChangeDetected
from tests.builder.conftest import change_for

IMAGE = "127.0.0.1:5000/shop/api"
OLD, NEW = "a" * 40, "b" * 40
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def coordinator(redis_client: redis.Redis) -> Coordinator:
    return Coordinator(redis_client, lease_seconds=1.0)


def at(seconds: float, commit: str, **fields: object) -> ChangeDetected:
    return change_for(IMAGE, "api", commit, occurred_at=T0 + timedelta(seconds=seconds), **fields)


def test_the_first_build_of_a_service_and_branch_is_the_newest(coordinator: Coordinator) -> None:
    assert coordinator.claim_newest(at(0, OLD)) is None


def test_a_later_push_supersedes_a_running_build_of_the_same_branch(
    coordinator: Coordinator,
) -> None:
    old = at(0, OLD)
    coordinator.claim_newest(old)

    assert coordinator.claim_newest(at(5, NEW, run_id="run-new")) is None
    assert coordinator.newer_than(old) == Newer(commit=NEW, run_id="run-new")


def test_an_older_push_that_starts_late_is_superseded_at_once(coordinator: Coordinator) -> None:
    coordinator.claim_newest(at(5, NEW, run_id="run-new"))

    assert coordinator.claim_newest(at(0, OLD)) == Newer(commit=NEW, run_id="run-new")


def test_other_branches_services_and_the_same_commit_never_supersede(
    coordinator: Coordinator,
) -> None:
    old = at(0, OLD)
    coordinator.claim_newest(old)

    coordinator.claim_newest(at(5, NEW, ref="refs/heads/feature"))
    coordinator.claim_newest(change_for(IMAGE, "web", NEW, occurred_at=T0 + timedelta(seconds=5)))
    assert coordinator.newer_than(old) is None
    coordinator.claim_newest(at(9, OLD, run_id="run-again"))  # a rebuild of the same commit
    assert coordinator.newer_than(old) is None


def test_a_redelivered_build_is_still_its_own_newest(coordinator: Coordinator) -> None:
    change = at(0, OLD)
    coordinator.claim_newest(change)

    assert coordinator.claim_newest(change) is None
    assert coordinator.newer_than(change) is None


def test_a_lease_makes_a_second_build_of_the_commit_wait_for_the_first(
    coordinator: Coordinator,
) -> None:
    order: list[str] = []

    def second() -> None:
        with coordinator.lease(IMAGE, OLD, wait=10):
            order.append("second")

    with coordinator.lease(IMAGE, OLD, wait=10) as lease:
        waiter = threading.Thread(target=second)
        waiter.start()
        for _ in range(6):
            time.sleep(0.25)
            assert lease.renew()  # kept alive past its 1 s lifetime
        order.append("first")
    waiter.join(timeout=10)

    assert order == ["first", "second"]


def test_the_lease_of_a_builder_that_died_lapses(coordinator: Coordinator) -> None:
    abandoned = coordinator.lease(IMAGE, OLD, wait=1)
    abandoned.__enter__()  # never renewed, never released: its holder is gone
    started = time.monotonic()

    with coordinator.lease(IMAGE, OLD, wait=10):
        waited = time.monotonic() - started

    assert 0.5 < waited < 3


def test_a_lease_redis_lost_is_taken_back_by_its_holder_at_its_next_renewal(
    coordinator: Coordinator, redis_client: redis.Redis
) -> None:
    with coordinator.lease(IMAGE, OLD, wait=10) as lease:
        redis_client.flushall()

        assert lease.renew()
        with (
            pytest.raises(TransientError, match="another builder"),
            coordinator.lease(IMAGE, OLD, wait=0.3),
        ):
            pass


def test_a_holder_whose_lost_lease_another_builder_took_is_told_so_and_frees_nothing(
    coordinator: Coordinator, redis_client: redis.Redis
) -> None:
    with coordinator.lease(IMAGE, OLD, wait=10) as lease:
        redis_client.flushall()
        other = coordinator.lease(IMAGE, OLD, wait=1)
        other.__enter__()

        assert not lease.renew()
    with (
        pytest.raises(TransientError, match="another builder"),  # still the other's
        coordinator.lease(IMAGE, OLD, wait=0.3),
    ):
        pass


def test_waiting_longer_than_allowed_for_a_lease_is_a_transient_error(
    coordinator: Coordinator,
) -> None:
    with (
        coordinator.lease(IMAGE, OLD, wait=10) as lease,
        pytest.raises(TransientError, match="another builder"),
    ):
        lease.renew()
        with coordinator.lease(IMAGE, OLD, wait=0.3):
            pass


def test_the_last_tag_is_remembered_per_image_and_branch(coordinator: Coordinator) -> None:
    coordinator.remember_tag(IMAGE, "refs/heads/main", "sha-aaaaaaa")

    assert coordinator.last_tag(IMAGE, "refs/heads/main") == "sha-aaaaaaa"
    assert coordinator.last_tag(IMAGE, "refs/heads/feature") is None

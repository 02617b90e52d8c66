"""The attack on "one build per image and commit" that a Redis data loss makes: the build
lease vanishes mid-build and a second request for the same commit arrives (a redelivery, the
reconciler's sweep). Real git, dockerd, registry and Redis.

Before the fix, the first builder kept building without a lease, the second took a fresh
one and built too, and the tag was pushed twice with two digests (seen in the chaos run).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from services.builder.build import Builder
from services.builder.logs import build_log_path
from services.common.errors import TransientError
from services.common.events import ChangeDetected
from services.common.keyspace import DEFAULT_KEYSPACE
from services.common.settings import Settings
from services.devenv.registry import Registry
from tests.builder.conftest import Monorepo, change_for
from tests.builder.test_build import dockerfile, name_of, pushed

SLOW_STEP_SECONDS = 4


def manifests_pushed(registry: Registry, image_repository: str, tag: str) -> int:
    """How many manifests the registry's tag ever pointed at (its tag index on disk)."""
    tags = registry.workdir / "data/docker/registry/v2/repositories" / name_of(image_repository)
    index = tags / "_manifests/tags" / tag / "index/sha256"
    return len(list(index.iterdir())) if index.exists() else 0


def slow_service(monorepo: Monorepo, base_image: str) -> str:
    step = f"RUN echo {uuid.uuid4().hex} > /stamp && sleep {SLOW_STEP_SECONDS}"
    return monorepo.commit({"api/Dockerfile": dockerfile(base_image, step)})


def start_build(builder: Builder, change: ChangeDetected) -> tuple[threading.Thread, list[object]]:
    """`builder.build(change)` in a thread; its outcome (events or exception) lands in the list."""
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(builder.build(change))
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def wait_for_run_step(log: Path) -> None:
    deadline = time.monotonic() + 60
    while not (log.exists() and " RUN echo " in log.read_text()):
        assert time.monotonic() < deadline, "the build never started its RUN step"
        time.sleep(0.1)


@pytest.fixture
def building(
    builder: Builder, monorepo: Monorepo, registry: Registry, base_image: str, settings: Settings
) -> Callable[[], tuple[ChangeDetected, threading.Thread, list[object]]]:
    """Starts the first build of a slow commit and returns once its RUN step is running."""

    def start() -> tuple[ChangeDetected, threading.Thread, list[object]]:
        commit = slow_service(monorepo, base_image)
        change = change_for(monorepo.image_repository(registry, "api"), "api", commit)
        thread, outcome = start_build(builder, change)
        wait_for_run_step(build_log_path(settings.workdir, change.run_id, "api"))
        return change, thread, outcome

    return start


def test_a_lease_wiped_mid_build_is_taken_back_and_a_second_request_waits_for_the_image(
    building: Callable[[], tuple[ChangeDetected, threading.Thread, list[object]]],
    builder: Builder,
    registry: Registry,
    redis_client: redis.Redis,
) -> None:
    first, first_thread, first_outcome = building()

    redis_client.flushall()  # Redis restarted empty: the lease is gone with everything else
    time.sleep(1.0)  # the second request arrives a moment later (a redelivery, the sweep)
    again = change_for(first.image_repository, "api", first.source.commit)
    second_thread, second_outcome = start_build(builder, again)
    first_thread.join(timeout=120)
    second_thread.join(timeout=120)

    results = [pushed(outcome) for outcome in (*first_outcome, *second_outcome)]  # type: ignore[arg-type]
    assert [r.cached for r in results] == [False, True]
    assert results[0].digest == results[1].digest
    tag = f"sha-{first.source.commit[:7]}"
    assert manifests_pushed(registry, first.image_repository, tag) == 1
    assert registry.manifest_digest(name_of(first.image_repository), tag) == results[0].digest


def test_a_build_whose_lease_another_builder_took_stops_before_pushing_and_is_retried(
    building: Callable[[], tuple[ChangeDetected, threading.Thread, list[object]]],
    registry: Registry,
    redis_client: redis.Redis,
) -> None:
    first, first_thread, first_outcome = building()
    key = DEFAULT_KEYSPACE.build_lease(first.image_repository, first.source.commit)

    redis_client.flushall()
    redis_client.set(key, "another-builder", px=60_000)  # it got the lease before the holder
    first_thread.join(timeout=60)

    [outcome] = first_outcome
    assert isinstance(outcome, TransientError), outcome
    assert "another builder took the build" in str(outcome)
    assert registry.tags(name_of(first.image_repository)) == []
    assert redis_client.get(key) == b"another-builder"  # never released on the other's behalf

"""The notifier's auto-promotion adapter on a real Redis: only repositories the committer
recorded environments for are read, and a service pinned in the target is never asked for."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from services.common.auto_promotion_runs import AutoPromotionRuns
from services.common.environment_view import (
    EnvironmentsStore,
    EnvironmentsView,
    EnvironmentView,
    Running,
)
from services.common.events import Source
from services.common.keyspace import DEFAULT_KEYSPACE
from services.common.project import Project
from services.common.runtime import Runtime
from services.common.settings import Settings
from services.notifier.auto_promote import AutoPromoter
from tests.common.test_auto_promotion import STAGING_THEN_AUTO, committed, project
from tests.common.test_auto_promotion_runs import queued_ids


@pytest.fixture
def runtime(redis_url: str, redis_client: redis.Redis, tmp_path: Path) -> Iterator[Runtime]:
    runtime = Runtime(Settings(redis_url=redis_url, workdir=tmp_path))
    yield runtime
    runtime.celery.close()
    runtime.redis.close()


def promoter(runtime: Runtime, reads: list[str]) -> AutoPromoter:
    def read_project(settings: Settings, source: Source) -> Project:
        reads.append(source.commit)
        return project(STAGING_THEN_AUTO)

    starts = AutoPromotionRuns(runtime.redis, DEFAULT_KEYSPACE, runtime.runs, runtime.bus)
    views = EnvironmentsStore(runtime.redis)
    return AutoPromoter(runtime.settings, views, starts, read_project)


def record(runtime: Runtime, pinned: bool) -> None:
    EnvironmentsStore(runtime.redis).record(
        EnvironmentsView(
            repository="acme/shop",
            commit="a" * 40,
            environments=(
                EnvironmentView(name="staging"),
                EnvironmentView(
                    name="production", source="staging", services={"api": Running(pinned=pinned)}
                ),
            ),
        )
    )


def test_a_repository_without_recorded_environments_is_not_read(
    runtime: Runtime, redis_client: redis.Redis
) -> None:
    reads: list[str] = []

    promoter(runtime, reads)(committed())

    assert reads == []
    assert queued_ids(redis_client) == []


def test_a_commit_to_staging_queues_production_s_promotion(
    runtime: Runtime, redis_client: redis.Redis
) -> None:
    record(runtime, pinned=False)
    reads: list[str] = []

    promoter(runtime, reads)(committed())

    assert reads == ["a" * 40]  # shipline.yaml at the landed source commit
    assert len(queued_ids(redis_client)) == 1


def test_a_service_pinned_in_production_is_not_promoted_into_it(
    runtime: Runtime, redis_client: redis.Redis
) -> None:
    record(runtime, pinned=True)

    promoter(runtime, [])(committed())

    assert queued_ids(redis_client) == []

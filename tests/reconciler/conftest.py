"""What the retry and sweep tests share: a sample monorepo, a clock the test moves, and a
runtime on the test Redis (emptied by `redis_client`) with the stage queues bound."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from services.common.runtime import Runtime
from services.common.settings import Settings
from services.demo.scenario import SampleMonorepo
from tests.reconciler.test_reconcile import declare_queues


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sample(tmp_path: Path) -> SampleMonorepo:
    sample = SampleMonorepo(tmp_path / "repos")
    sample.create("registry.local/microbank", "alpine:3")
    return sample


@contextlib.contextmanager
def runtime_on(
    redis_url: str, workdir: Path, sample: SampleMonorepo, **reconciler: Any
) -> Iterator[Runtime]:
    """A runtime for `sample` with these `reconciler` settings."""
    settings = Settings(
        redis_url=redis_url,
        workdir=workdir,
        repositories=[{"name": sample.name, "url": sample.url, "webhook_secret": "s" * 32}],
        reconciler=reconciler,
    )
    runtime = Runtime(settings)
    declare_queues(runtime)
    try:
        yield runtime
    finally:
        runtime.celery.close()
        runtime.redis.close()

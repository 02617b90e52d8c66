"""Notification routing per environment, through the notifier stage: real git repositories
(staging, then production `from: staging`), the committer's own deploy and promotion, the
run store on a real Redis, and webhook receivers over HTTP. The staging channel hears the
staging deploy only, the production channel the promotion only."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis

from services.committer.environment_survey import record_environments
from services.committer.promote import promote
from services.committer.writeback import GitopsWriter
from services.common.environment_view import EnvironmentsStore
from services.common.events import Envelope, ManifestCommitted, RunCompleted, encode_event
from services.common.runtime import Runtime
from services.common.settings import WebhookChannelSettings
from services.common.stage import StageRunner
from services.demo.receiver import NotificationReceiver
from services.notifier.task import STAGE
from tests.committer.gitrepos import (
    REGISTRY,
    Repo,
    monorepo,
    promotion,
    scan_passed,
    settings_for,
    staging_and_production,
)

PUSH_RUN, PROMOTION_RUN = "run-push", "run-promote"


class Receivers:
    def __init__(self) -> None:
        self.staging, self.production, self.everything = (NotificationReceiver() for _ in "abc")

    def channels(self) -> list[WebhookChannelSettings]:
        def hook(receiver: NotificationReceiver, name: str, **route: Any) -> Any:
            return WebhookChannelSettings(
                type="webhook", name=name, url=receiver.url, events=None, **route
            )

        return [
            hook(self.staging, "staging-chatter", environments=["staging"]),
            hook(self.production, "production-ops", environments=["production"]),
            hook(self.everything, "audit"),
        ]


@pytest.fixture
def receivers() -> Iterator[Receivers]:
    made = Receivers()
    with made.staging, made.production, made.everything:
        yield made


@pytest.fixture
def shop(tmp_path: Path) -> Repo:
    return staging_and_production(tmp_path / "remotes", ["cart"])


@contextmanager
def notifier_of(
    repo: Repo, receivers: Receivers, redis_url: str, workdir: Path
) -> Iterator[Runtime]:
    settings = settings_for(workdir, repo, redis_url=redis_url, notifications=receivers.channels())
    runtime = Runtime(settings)
    try:
        yield runtime
    finally:
        if "celery" in runtime.__dict__:
            runtime.celery.close()
        runtime.redis.close()


@pytest.fixture
def runtime(shop: Repo, receivers: Receivers, redis_url: str, tmp_path: Path) -> Iterator[Runtime]:
    with notifier_of(shop, receivers, redis_url, tmp_path / "work") as runtime:
        yield runtime


def notified(runtime: Runtime, *events: Envelope) -> None:
    runner = StageRunner(STAGE, runtime)
    for event in events:
        runner.process(encode_event(event))


def deployed_by_a_push(shop: Repo, writer: GitopsWriter, runtime: Runtime) -> list[Envelope]:
    """A push run deploying cart (to staging, with environments), as the committer and the
    run store leave it."""
    commit = shop.commit({"cart/app.txt": f"cart {uuid.uuid4()}\n"}, "feat: cart")
    runtime.runs.create(PUSH_RUN, trigger="push", repository=shop.name, commit=commit)
    runtime.runs.plan(PUSH_RUN, ["cart"])
    committed = writer.deploy(scan_passed(shop, "cart", commit, PUSH_RUN))
    assert isinstance(committed, ManifestCommitted)
    record_environments(
        writer.targets, writer.commits, EnvironmentsStore(runtime.redis), shop.name, commit
    )
    completed = runtime.runs.apply(committed)
    assert isinstance(completed, RunCompleted)
    return [committed, completed]


def promoted_to_production(writer: GitopsWriter, runtime: Runtime) -> list[Envelope]:
    """ada's promotion of cart to production, its run recorded as the gateway records it."""
    request = promotion(PROMOTION_RUN)
    runtime.runs.create(
        PROMOTION_RUN,
        trigger="promotion",
        provider="manual",
        repository=request.repository,
        pusher="ada",
        environment=request.environment,
    )
    runtime.runs.plan(PROMOTION_RUN, ["cart"])
    [committed] = promote(request, writer.targets, writer.commits)
    assert isinstance(committed, ManifestCommitted)
    completed = runtime.runs.apply(committed)
    assert isinstance(completed, RunCompleted)
    return [committed, completed]


def heard(receiver: NotificationReceiver) -> list[tuple[str, str, str | None]]:
    return [(b["event"]["type"], b["run_id"], b.get("environment")) for b in receiver.received]


def test_a_staging_deploy_reaches_the_staging_channel_and_a_promotion_the_production_one(
    shop: Repo, runtime: Runtime, receivers: Receivers, redis_client: redis.Redis
) -> None:
    writer = GitopsWriter.connect(runtime.settings, redis_client)

    notified(runtime, *deployed_by_a_push(shop, writer, runtime))
    notified(runtime, *promoted_to_production(writer, runtime))

    assert heard(receivers.staging) == [
        ("ManifestCommitted", PUSH_RUN, "staging"),
        ("RunCompleted", PUSH_RUN, "staging"),
    ]
    assert heard(receivers.production) == [
        ("ManifestCommitted", PROMOTION_RUN, "production"),
        ("RunCompleted", PROMOTION_RUN, "production"),
    ]
    assert heard(receivers.everything) == heard(receivers.staging) + heard(receivers.production)
    production_summary = receivers.production.received[1]["text"]
    assert production_summary.startswith(f"[production] ✅ run {PROMOTION_RUN} succeeded")
    assert f"{REGISTRY}/cart:sha-" in production_summary


def test_without_environments_in_the_project_only_channels_naming_none_hear_it(
    tmp_path: Path, receivers: Receivers, redis_url: str, redis_client: redis.Redis
) -> None:
    plain = monorepo(tmp_path / "remotes", ["cart"])
    with notifier_of(plain, receivers, redis_url, tmp_path / "work") as runtime:
        writer = GitopsWriter.connect(runtime.settings, redis_client)
        notified(runtime, *deployed_by_a_push(plain, writer, runtime))

    assert heard(receivers.staging) == heard(receivers.production) == []
    assert heard(receivers.everything) == [
        ("ManifestCommitted", PUSH_RUN, None),
        ("RunCompleted", PUSH_RUN, None),
    ]
    assert not receivers.everything.received[1]["text"].startswith("[")

"""Open promotion pull requests re-read from the host by the reconciler, on a real Redis and
bus and the loopback GitHub checked against its published OpenAPI description: a merge or a
close whose webhook never came still reaches the committer, as the webhook would have."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from services.common.events import ManifestCommitted, PullRequestClosed, Source
from services.common.promotion_pulls import PendingPromotion, PromotionPulls, closed_event
from services.common.repository_settings import GitHost
from services.common.runtime import Runtime
from services.common.settings import Repository, Settings
from services.reconciler.promotion_pulls import PromotionPullCheck
from tests.gateway.test_deployments import queued
from tests.githost.conftest import TOKEN, github, github_description  # noqa: F401 (fixtures)
from tests.githost.fake_github import FakeGitHub

pytestmark = pytest.mark.integration

MERGE = "5" * 40
BRANCH = "shipline/promote-production"


@pytest.fixture
def runtime(tmp_path: Path, redis_url: str, github: FakeGitHub) -> Runtime:  # noqa: F811
    host = GitHost(type="github", api_url=github.host.url, token=TOKEN)
    shop = Repository(
        name="acme/shop", url="file:///nowhere.git", webhook_secret="x" * 20, host=host
    )
    return Runtime(Settings(workdir=tmp_path / "w", repositories=[shop], redis_url=redis_url))


@pytest.fixture
def waiting(redis_client: redis.Redis, github: FakeGitHub) -> PendingPromotion:  # noqa: F811
    pull = github.store.add("Promote cart to production", "", BRANCH, "main")
    source = Source(repository="acme/shop", commit="1" * 40, ref="refs/heads/main")
    committed = ManifestCommitted(
        run_id="run-p1",
        service="cart",
        source=source,
        manifest_path="k8s/production/cart.yaml",
        old_image="r/cart:old",
        new_image="r/cart:new",
        gitops_repository="acme/shop",
        gitops_commit="7" * 40,
        branch="main",
    )
    pending = PendingPromotion(
        run_id="run-p1",
        repository="acme/shop",
        environment="production",
        gitops_repository="acme/shop",
        number=pull.number,
        url="https://github.example/acme/shop/pull/1",
        branch=BRANCH,
        commit="7" * 40,
        committed=(committed,),
    )
    PromotionPulls(redis_client).record(pending)
    return pending


def check(runtime: Runtime, redis_client: redis.Redis) -> PromotionPullCheck:
    return PromotionPullCheck(runtime.settings, PromotionPulls(redis_client), runtime.bus)


def test_a_merge_whose_webhook_never_came_reaches_the_committer_as_the_webhook_would(
    runtime: Runtime,
    redis_client: redis.Redis,
    waiting: PendingPromotion,
    github: FakeGitHub,  # noqa: F811
) -> None:
    github.store.merge(waiting.number, MERGE)

    assert check(runtime, redis_client).pass_once(lambda: True) == 1

    [event] = queued(redis_client, "committer")
    assert isinstance(event, PullRequestClosed)
    assert (event.run_id, event.merged, event.merge_commit_sha, event.via) == (
        "run-p1",
        True,
        MERGE,
        "host",
    )
    assert event.event_id == closed_event(waiting, True, MERGE).event_id  # the webhook's id
    assert ("GET", "/repos/acme/shop/pulls/1") in github.host.operations()


def test_a_request_closed_unmerged_is_read_as_closed_and_an_open_one_is_left(
    runtime: Runtime,
    redis_client: redis.Redis,
    waiting: PendingPromotion,
    github: FakeGitHub,  # noqa: F811
) -> None:
    pulls = check(runtime, redis_client)
    assert pulls.pass_once(lambda: True) == 0  # still open: nothing queued
    assert queued(redis_client, "committer") == []

    github.store.close(waiting.number)
    assert pulls.pass_once(lambda: True) == 0  # asked a minute after at most

    later = PromotionPullCheck(
        runtime.settings, PromotionPulls(redis_client), runtime.bus, every=0.0
    )
    assert later.pass_once(lambda: True) == 1
    [event] = queued(redis_client, "committer")
    assert isinstance(event, PullRequestClosed) and not event.merged

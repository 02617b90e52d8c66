# ruff: noqa: F811 (the fixtures imported from the committer's pull-request tests)
"""The records of open promotion pull requests rebuilt after Redis lost them, by the
reconciler's leader from the loopback GitHub (checked against GitHub's published OpenAPI
description) and the real git remote: Shipline's own request comes back as the committer
recorded it; one whose branch somebody with push access rewrote, even under the bot's name,
does not."""

from __future__ import annotations

import re

import git
import pytest
import redis

from services.committer.promote import promote
from services.committer.pull_request_writeback import PullRequestWriteback
from services.committer.writeback import GitopsWriter
from services.common.keyspace import Keyspace
from services.common.promotion_pulls import PendingPromotion, PromotionPulls
from services.common.runs import RunStore
from services.common.settings import Settings
from services.reconciler.promotion_pull_recovery import PromotionPullRecovery
from tests.committer.gitrepos import (
    PULL_REQUEST_BRANCH,
    REGISTRY,
    Repo,
    deployed_to_staging,
    promotion,
)
from tests.committer.test_pull_request_writeback import (  # noqa: F401 (fixtures)
    by_digest,
    pulls,
    settings,
    shop,
    store,
    writer,
)
from tests.githost.conftest import github, github_description  # noqa: F401 (fixtures)
from tests.githost.fake_github import FakeGitHub

pytestmark = pytest.mark.integration


def opened(
    shop: Repo,
    writer: GitopsWriter,
    pulls: PullRequestWriteback,
    github: FakeGitHub,
    r: redis.Redis,
) -> PendingPromotion:
    """cart deployed to staging and promoted by pull request #1: the committer's record."""
    deployed_to_staging(shop, writer, verdicts=r)
    promote(promotion("run-p1"), writer.targets, writer.commits, by_digest, pulls)
    recorded = PromotionPulls(r, keys=Keyspace()).get("acme/shop", 1)
    assert recorded is not None
    github.store.pulls[1].head_sha = branch_head(shop)  # what GitHub reports as its head
    return recorded


def branch_head(shop: Repo) -> str:
    with git.Repo(shop.bare) as bare:
        return bare.commit(PULL_REQUEST_BRANCH).hexsha


def recovery(settings: Settings, r: redis.Redis) -> PromotionPullRecovery:
    keys = Keyspace()
    return PromotionPullRecovery(
        settings, PromotionPulls(r, keys=keys), r, keys, RunStore(r, keys=keys)
    )


def without_times(pending: PendingPromotion) -> dict[str, object]:
    dumped = pending.model_dump(mode="json")
    for event in dumped["committed"]:
        event.pop("occurred_at")
    return dumped


def rewritten_by(shop: Repo, settings: Settings, image: str, on_top: bool = False) -> str:
    """Somebody with push access rewrites the branch under the bot's name and email: the
    same message, another image (`on_top`: a second commit after Shipline's)."""
    clone, bot = shop.clone, git.Actor(settings.bot.name, settings.bot.email)
    clone.git.fetch("origin", PULL_REQUEST_BRANCH)
    clone.git.checkout("-B", "forged", "FETCH_HEAD")
    message = clone.head.commit.message
    path = shop.work / "k8s/production/cart.yaml"
    text = path.read_text()
    path.write_text(re.sub(rf"{REGISTRY}/cart:sha-[0-9a-f]+", f"{REGISTRY}/cart:{image}", text))
    clone.git.add("-A")
    parents = [clone.head.commit] if on_top else clone.head.commit.parents
    forged = clone.index.commit(message, parent_commits=parents, author=bot, committer=bot)
    clone.git.push("--force", "origin", f"{forged.hexsha}:refs/heads/{PULL_REQUEST_BRANCH}")
    clone.git.checkout("main")
    clone.close()
    return forged.hexsha


def test_shiplines_own_request_is_found_again_as_the_committer_recorded_it(
    shop: Repo,
    writer: GitopsWriter,
    pulls: PullRequestWriteback,
    github: FakeGitHub,
    settings: Settings,
    redis_client: redis.Redis,
) -> None:
    recorded = opened(shop, writer, pulls, github, redis_client)
    redis_client.flushall()

    assert recovery(settings, redis_client).pass_once() == 1

    found = PromotionPulls(redis_client, keys=Keyspace()).get("acme/shop", 1)
    assert found is not None and without_times(found) == without_times(recorded)
    run = RunStore(redis_client, keys=Keyspace()).get("run-p1")
    assert run is not None and run.trigger == "recovered"  # made again: the merge completes it
    assert github.host.violations == []
    assert recovery(settings, redis_client).pass_once() == 0  # listed: not again


@pytest.mark.parametrize("on_top", [False, True], ids=["replaced", "a-commit-on-top"])
def test_a_branch_rewritten_under_the_bots_name_is_not_taken_for_a_promotion(
    shop: Repo,
    writer: GitopsWriter,
    pulls: PullRequestWriteback,
    github: FakeGitHub,
    settings: Settings,
    redis_client: redis.Redis,
    on_top: bool,
) -> None:
    opened(shop, writer, pulls, github, redis_client)
    github.store.pulls[1].head_sha = rewritten_by(shop, settings, "evil", on_top)
    redis_client.flushall()

    assert recovery(settings, redis_client).pass_once() == 0

    assert PromotionPulls(redis_client, keys=Keyspace()).get("acme/shop", 1) is None
    assert RunStore(redis_client, keys=Keyspace()).get("run-p1") is None

"""Promotion by pull request into an environment with its own gitops repository: the branch
and the request on that repository's host (its gitops_repositories entry's `host:`), the
merge taken from that repository's branch; the source repository never touched."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from services.committer.promote import promote
from services.committer.pull_request_writeback import PullRequestWriteback, answer_closed
from services.committer.writeback import GitopsWriter
from services.common.events import (
    ManifestCommitted,
    PullRequestOpened,
)
from services.common.keyspace import Keyspace
from services.common.promotion_pulls import PromotionPulls
from services.common.repository_settings import GitHost
from tests.committer.gitrepos import (
    PRODUCTION_GITOPS,
    PULL_REQUEST_BRANCH,
    REGISTRY,
    Repo,
    deployed_to_staging,
    merged_by_a_person,
    own_gitops_settings,
    production_gitops,
    promotion,
    staging_and_production,
)
from tests.committer.test_pull_request_writeback import holding, merged_as
from tests.githost.conftest import (  # noqa: F401 (fixtures)
    TOKEN,
    github,
    github_description,
)
from tests.githost.fake_github import FakeGitHub

pytestmark = pytest.mark.integration  # npm fetches GitHub's description into the devenv state

MANIFEST = "k8s/production/cart.yaml"


@pytest.fixture
def shop(tmp_path: Path) -> Repo:
    production = {"approval": "pull-request", "gitops": {"repository": PRODUCTION_GITOPS}}
    return staging_and_production(tmp_path / "remotes", ["cart"], production, ("staging",))


@pytest.fixture
def prod(tmp_path: Path) -> Repo:
    return production_gitops(tmp_path / "remotes", ["cart"])


@pytest.fixture
def writer(
    shop: Repo,
    prod: Repo,
    tmp_path: Path,
    github: FakeGitHub,  # noqa: F811
    redis_client: redis.Redis,
) -> GitopsWriter:
    host = GitHost(type="github", api_url=github.host.url, token=TOKEN)
    settings = own_gitops_settings(tmp_path / "c", shop, prod, host)
    return GitopsWriter.connect(settings, redis_client)


@pytest.fixture
def store(redis_client: redis.Redis) -> PromotionPulls:
    return PromotionPulls(redis_client, keys=Keyspace())


@pytest.fixture
def pulls(writer: GitopsWriter, store: PromotionPulls) -> PullRequestWriteback:
    return PullRequestWriteback(writer.commits.lock, writer.commits.bot, store)


def test_a_pull_request_to_production_in_its_own_repository_opens_there_and_merges_there(
    shop: Repo,
    prod: Repo,
    writer: GitopsWriter,
    pulls: PullRequestWriteback,
    store: PromotionPulls,
    github: FakeGitHub,  # noqa: F811
    redis_client: redis.Redis,
) -> None:
    commit = deployed_to_staging(shop, writer, verdicts=redis_client)
    shop_head, prod_head = shop.log()[0].hexsha, prod.log()[0].hexsha
    image = f"{REGISTRY}/cart:sha-{commit[:7]}"
    asked = promotion("run-p1")

    [opened] = promote(asked, writer.targets, writer.commits, pulls=pulls)

    assert (shop.log()[0].hexsha, prod.log()[0].hexsha) == (shop_head, prod_head)
    assert f"image: {image}   #" in prod.read(MANIFEST, PULL_REQUEST_BRANCH)
    assert isinstance(opened, PullRequestOpened)
    assert (opened.gitops_repository, opened.branch) == (PRODUCTION_GITOPS, PULL_REQUEST_BRANCH)
    assert ("POST", f"/repos/{PRODUCTION_GITOPS}/pulls") in github.host.operations()
    assert (github.store.pulls[1].head, github.store.pulls[1].base) == (PULL_REQUEST_BRANCH, "main")

    merge = merged_by_a_person(prod)
    closed = merged_as(merge, PRODUCTION_GITOPS)
    [committed] = answer_closed(store, closed, holding(pulls, writer))

    assert isinstance(committed, ManifestCommitted)
    assert (committed.gitops_repository, committed.gitops_commit) == (PRODUCTION_GITOPS, merge)
    assert committed.new_image == image and committed.source.commit == commit
    trailer = f"Shipline-Deployed: cart acme/shop@{commit} in production"
    assert any(trailer in c.message for c in prod.log())  # the promotion's, merged
    assert shop.log()[0].hexsha == shop_head

"""Promotion by pull request into an environment with its own gitops repository: the branch
and the request on that repository's host (its gitops_repositories entry's `host:`), the
merge taken from that repository's branch; the source repository never touched."""

from __future__ import annotations

import uuid
from functools import partial
from pathlib import Path

import pytest
import redis

from services.committer.promote import promote
from services.committer.pull_request_writeback import PullRequestWriteback, answer_closed
from services.committer.writeback import GitopsWriter
from services.common.events import (
    ManifestCommitted,
    PromotionRequested,
    PullRequestClosed,
    PullRequestOpened,
)
from services.common.keyspace import Keyspace
from services.common.promotion_pulls import PromotionPulls
from services.common.repository_settings import GitHost, GitopsRepository
from services.common.scan_verdicts import ScanVerdict, ScanVerdicts
from tests.committer.gitrepos import (
    DEVELOPER,
    REGISTRY,
    Repo,
    deployment,
    scan_passed,
    settings_for,
    shipline_yaml,
)
from tests.githost.conftest import (  # noqa: F401 (fixtures)
    TOKEN,
    github,
    github_description,
)
from tests.githost.fake_github import FakeGitHub

pytestmark = pytest.mark.integration  # npm fetches GitHub's description into the devenv state

BRANCH = "shipline/promote-production"
PRODUCTION_GITOPS = "acme/prod-gitops"
MANIFEST = "k8s/production/cart.yaml"


@pytest.fixture
def shop(tmp_path: Path) -> Repo:
    repo = Repo(tmp_path / "remotes", "acme/shop")
    services = {"cart": {"path": "cart/", "manifest": "k8s/{environment}/cart.yaml"}}
    environments = [
        {"name": "staging"},
        {
            "name": "production",
            "from": "staging",
            "approval": "pull-request",
            "gitops": {"repository": PRODUCTION_GITOPS},
        },
    ]
    files = {
        "shipline.yaml": shipline_yaml(services, environments=environments),
        "cart/app.txt": "cart\n",
        "k8s/staging/cart.yaml": deployment("cart", f"{REGISTRY}/cart:initial"),
    }
    repo.commit(files, "initial")
    return repo


@pytest.fixture
def prod(tmp_path: Path) -> Repo:
    repo = Repo(tmp_path / "remotes", PRODUCTION_GITOPS)
    repo.commit({MANIFEST: deployment("cart", f"{REGISTRY}/cart:initial")}, "production")
    return repo


@pytest.fixture
def writer(
    shop: Repo,
    prod: Repo,
    tmp_path: Path,
    github: FakeGitHub,  # noqa: F811
    redis_client: redis.Redis,
) -> GitopsWriter:
    host = GitHost(type="github", api_url=github.host.url, token=TOKEN)
    entry = GitopsRepository(name=prod.name, url=prod.url, host=host)
    settings = settings_for(tmp_path / "c", shop, gitops_repositories=[entry])
    return GitopsWriter.connect(settings, redis_client)


@pytest.fixture
def store(redis_client: redis.Redis) -> PromotionPulls:
    return PromotionPulls(redis_client, keys=Keyspace())


@pytest.fixture
def pulls(writer: GitopsWriter, store: PromotionPulls) -> PullRequestWriteback:
    return PullRequestWriteback(writer.commits.lock, writer.commits.bot, store)


def deployed_to_staging(shop: Repo, writer: GitopsWriter, redis_client: redis.Redis) -> str:
    commit = shop.commit({"cart/app.txt": f"cart {uuid.uuid4()}\n"}, "feat: cart")
    scan = scan_passed(shop, "cart", commit, f"run-{commit[:7]}")
    ScanVerdicts(redis_client).record(ScanVerdict.of(scan))
    assert isinstance(writer.deploy(scan), ManifestCommitted)
    return commit


def merged_by_a_person(repo: Repo) -> str:
    clone = repo.clone
    clone.git.pull("--ff-only", "origin", "main")
    clone.git.fetch("origin", BRANCH)
    with clone.git.custom_environment(
        GIT_COMMITTER_NAME=DEVELOPER.name, GIT_COMMITTER_EMAIL=DEVELOPER.email
    ):
        clone.git.merge("--no-ff", "FETCH_HEAD", "-m", "Merge pull request #1")
    clone.git.push("origin", "HEAD:refs/heads/main")
    sha = clone.head.commit.hexsha
    clone.close()
    return sha


def test_a_pull_request_to_production_in_its_own_repository_opens_there_and_merges_there(
    shop: Repo,
    prod: Repo,
    writer: GitopsWriter,
    pulls: PullRequestWriteback,
    store: PromotionPulls,
    github: FakeGitHub,  # noqa: F811
    redis_client: redis.Redis,
) -> None:
    commit = deployed_to_staging(shop, writer, redis_client)
    shop_head, prod_head = shop.log()[0].hexsha, prod.log()[0].hexsha
    image = f"{REGISTRY}/cart:sha-{commit[:7]}"
    asked = PromotionRequested(
        run_id="run-p1",
        repository=shop.name,
        services=("cart",),
        environment="production",
        requested_by="ada",
    )

    [opened] = promote(asked, writer.targets, writer.commits, pulls=pulls)

    assert (shop.log()[0].hexsha, prod.log()[0].hexsha) == (shop_head, prod_head)
    assert f"image: {image}   #" in prod.read(MANIFEST, BRANCH)
    assert isinstance(opened, PullRequestOpened)
    assert (opened.gitops_repository, opened.branch) == (PRODUCTION_GITOPS, BRANCH)
    assert ("POST", f"/repos/{PRODUCTION_GITOPS}/pulls") in github.host.operations()
    assert (github.store.pulls[1].head, github.store.pulls[1].base) == (BRANCH, "main")

    merge = merged_by_a_person(prod)
    closed = PullRequestClosed(
        run_id="run-p1",
        gitops_repository=PRODUCTION_GITOPS,
        number=1,
        merged=True,
        merge_commit_sha=merge,
    )
    [committed] = answer_closed(store, closed, partial(pulls.holding, writer.targets))

    assert isinstance(committed, ManifestCommitted)
    assert (committed.gitops_repository, committed.gitops_commit) == (PRODUCTION_GITOPS, merge)
    assert committed.new_image == image and committed.source.commit == commit
    trailer = f"Shipline-Deployed: cart acme/shop@{commit} in production"
    assert any(trailer in c.message for c in prod.log())  # the promotion's, merged
    assert shop.log()[0].hexsha == shop_head

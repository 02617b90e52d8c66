"""Promotion by pull request: the commit on `shipline/promote-<environment>` of a real git
remote and the pull request on a loopback GitHub whose every request and answer is checked
against GitHub's published OpenAPI description; the gitops branch moves only on the merge."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import git
import pytest
import redis

from services.committer.promote import promote
from services.committer.pull_request_writeback import (
    Holding,
    PullRequestWriteback,
    answer_closed,
)
from services.committer.writeback import GitopsWriter
from services.common.errors import PermanentError, TransientError
from services.common.events import (
    DeploymentSkipped,
    ManifestCommitted,
    PullRequestClosed,
    PullRequestOpened,
    Source,
)
from services.common.keyspace import Keyspace
from services.common.promotion_pulls import PromotionPulls
from services.common.repository_settings import GitHost
from services.common.scan_verdicts import ScanVerdicts
from services.common.settings import Repository, Settings
from tests.committer.gitrepos import (
    DIGEST,
    PULL_REQUEST_BRANCH,
    REGISTRY,
    Repo,
    deployed_to_staging,
    merged_by_a_person,
    promotion,
    staging_and_production,
)
from tests.githost.conftest import (  # noqa: F401 (fixtures)
    TOKEN,
    gitea,
    github,
    github_description,
)
from tests.githost.fake_gitea import FakeGitea
from tests.githost.fake_github import FakeGitHub

pytestmark = pytest.mark.integration  # npm fetches GitHub's description into the devenv state

BRANCH = PULL_REQUEST_BRANCH


def overlay(environment: str) -> str:
    return f"k8s/{environment}/cart.yaml"


@pytest.fixture
def shop(tmp_path: Path) -> Repo:
    return staging_and_production(tmp_path / "remotes", ["cart"], {"approval": "pull-request"})


@pytest.fixture
def settings(shop: Repo, tmp_path: Path, github: FakeGitHub) -> Settings:  # noqa: F811
    host = GitHost(type="github", api_url=github.host.url, token=TOKEN)
    entry = Repository(name=shop.name, url=shop.url, webhook_secret="x" * 20, host=host)
    return Settings(workdir=tmp_path / "c", repositories=[entry])


@pytest.fixture
def writer(settings: Settings, redis_client: redis.Redis) -> GitopsWriter:
    return GitopsWriter.connect(settings, redis_client)


@pytest.fixture
def store(redis_client: redis.Redis) -> PromotionPulls:
    return PromotionPulls(redis_client, keys=Keyspace())


@pytest.fixture
def pulls(
    settings: Settings, redis_client: redis.Redis, store: PromotionPulls, writer: GitopsWriter
) -> PullRequestWriteback:
    lock = writer.commits.lock
    verdicts = ScanVerdicts(redis_client)
    return PullRequestWriteback(lock, settings.bot, store, verdicts, run_url=run_page)


def run_page(run_id: str) -> str:
    return f"https://shipline.example/runs/{run_id}"


def by_digest(service: str, image: str, source: Source) -> str:
    """The admission's answer: the registry's digest of the image (the one scanned)."""
    return DIGEST


def holding(pulls: PullRequestWriteback, writer: GitopsWriter) -> Holding:
    return partial(pulls.holding, writer.targets)


def merged_as(commit: str, gitops_repository: str = "acme/shop") -> PullRequestClosed:
    """What the host says of run-p1's request (#1) on `gitops_repository`: merged, as `commit`."""
    request = {"run_id": "run-p1", "gitops_repository": gitops_repository, "number": 1}
    return PullRequestClosed(**request, merged=True, merge_commit_sha=commit)


def test_a_promotion_to_a_pull_request_environment_opens_one_and_leaves_the_branch_alone(
    shop: Repo,
    writer: GitopsWriter,
    pulls: PullRequestWriteback,
    github: FakeGitHub,  # noqa: F811
    redis_client: redis.Redis,
) -> None:
    commit = deployed_to_staging(shop, writer, verdicts=redis_client)
    main_before = shop.log()[0].hexsha
    image = f"{REGISTRY}/cart:sha-{commit[:7]}"

    events = promote(promotion("run-p1"), writer.targets, writer.commits, by_digest, pulls)

    assert shop.log()[0].hexsha == main_before  # the protected branch is untouched
    assert f"image: {image}   #" in shop.read(overlay("production"), BRANCH)
    assert f"{REGISTRY}/cart:initial" in shop.read(overlay("production"))
    [opened] = events
    assert isinstance(opened, PullRequestOpened)
    assert (opened.number, opened.branch, opened.environment) == (1, BRANCH, "production")
    with git.Repo(shop.bare) as bare:
        assert opened.commit == bare.commit(BRANCH).hexsha
    pull = github.store.pulls[1]
    assert (pull.title, pull.head, pull.base) == ("Promote cart to production", BRANCH, "main")
    assert pull.labels == ["shipline", "promotion"]
    assert f"`{image}`" in pull.body and f"acme/shop@{commit[:12]}" in pull.body
    assert "runs no Shipline deploy yet" in pull.body  # production ran a hand-written image
    assert f"`{DIGEST}`" in pull.body and "passed (policy test)" in pull.body
    assert "[run-p1](https://shipline.example/runs/run-p1)" in pull.body
    assert ("POST", "/repos/acme/shop/pulls") in github.host.operations()


def test_a_newer_promotion_updates_the_same_pull_request_and_supersedes_the_earlier_run(
    shop: Repo,
    writer: GitopsWriter,
    pulls: PullRequestWriteback,
    github: FakeGitHub,  # noqa: F811
    redis_client: redis.Redis,
    store: PromotionPulls,
) -> None:
    deployed_to_staging(shop, writer, verdicts=redis_client)
    promote(promotion("run-p1"), writer.targets, writer.commits, pulls=pulls)
    newer = deployed_to_staging(shop, writer, verdicts=redis_client)

    events = promote(promotion("run-p2"), writer.targets, writer.commits, pulls=pulls)

    assert list(github.store.pulls) == [1]  # one request, updated
    assert f"cart:sha-{newer[:7]}" in github.store.pulls[1].body
    superseded, opened = events
    assert isinstance(superseded, DeploymentSkipped)
    assert (superseded.run_id, superseded.outcome) == ("run-p1", "superseded")
    assert isinstance(opened, PullRequestOpened) and opened.run_id == "run-p2"
    assert f"cart:sha-{newer[:7]}" in shop.read(overlay("production"), BRANCH)
    pending = store.get("acme/shop", 1)
    assert pending is not None and pending.run_id == "run-p2"
    assert [p.run_id for p in store.open()] == ["run-p2"]


def test_the_merge_continues_the_run_with_the_commit_that_landed(
    shop: Repo,
    writer: GitopsWriter,
    pulls: PullRequestWriteback,
    redis_client: redis.Redis,
    store: PromotionPulls,
) -> None:
    commit = deployed_to_staging(shop, writer, verdicts=redis_client)
    promote(promotion("run-p1"), writer.targets, writer.commits, pulls=pulls)
    merge = merged_by_a_person(shop)
    closed = merged_as(merge)

    [committed] = answer_closed(store, closed, holding(pulls, writer))

    assert isinstance(committed, ManifestCommitted)
    assert committed.gitops_commit == merge and committed.source.commit == commit
    assert committed.new_image == f"{REGISTRY}/cart:sha-{commit[:7]}"
    assert committed.manifest_path == overlay("production")
    assert committed.new_image in shop.read(overlay("production"))
    assert store.open() == []
    again = answer_closed(store, closed, holding(pulls, writer))  # a redelivery
    assert again == [committed]  # the same event


def test_the_next_pull_request_lists_the_source_commits_since_what_production_runs(
    shop: Repo,
    writer: GitopsWriter,
    pulls: PullRequestWriteback,
    github: FakeGitHub,  # noqa: F811
    redis_client: redis.Redis,
) -> None:
    first = deployed_to_staging(shop, writer, verdicts=redis_client)
    promote(promotion("run-p1"), writer.targets, writer.commits, pulls=pulls)
    github.store.merge(1, merged_by_a_person(shop))
    shop.commit({"cart/app.txt": "cart fixed\n"}, "fix: the cart total")
    newer = deployed_to_staging(shop, writer, verdicts=redis_client)

    promote(promotion("run-p2"), writer.targets, writer.commits, pulls=pulls)

    body = github.store.pulls[2].body
    assert f"source commits since {first[:12]}:" in body
    assert "fix: the cart total" in body and f"{newer[:12]} feat: cart" in body


def test_a_merge_the_gitops_branch_does_not_hold_moves_nothing_on_and_is_asked_again(
    shop: Repo,
    writer: GitopsWriter,
    pulls: PullRequestWriteback,
    redis_client: redis.Redis,
    store: PromotionPulls,
) -> None:
    """The attack: a "merged" answer (a webhook signed with a leaked secret, a host that
    lies) naming the request's own branch commit, which never reached the gitops branch."""
    deployed_to_staging(shop, writer, verdicts=redis_client)
    promote(promotion("run-p1"), writer.targets, writer.commits, pulls=pulls)
    [pending] = store.open()
    forged = merged_as(pending.commit)

    with pytest.raises(TransientError, match="not on acme/shop main"):
        answer_closed(store, forged, holding(pulls, writer))
    assert [p.run_id for p in store.open()] == ["run-p1"]  # still waiting for the real merge


def test_a_merge_whose_manifest_a_reviewer_changed_rejects_the_service_it_no_longer_runs(
    shop: Repo,
    writer: GitopsWriter,
    pulls: PullRequestWriteback,
    redis_client: redis.Redis,
    store: PromotionPulls,
) -> None:
    commit = deployed_to_staging(shop, writer, verdicts=redis_client)
    promote(promotion("run-p1"), writer.targets, writer.commits, pulls=pulls)
    merged_by_a_person(shop)
    promoted = f"{REGISTRY}/cart:sha-{commit[:7]}"
    path = overlay("production")
    changed = shop.read(path).replace(promoted, f"{REGISTRY}/cart:other")
    edited = shop.commit({path: changed}, "review: not this one")
    closed = merged_as(edited)

    [rejected] = answer_closed(store, closed, holding(pulls, writer))

    assert isinstance(rejected, DeploymentSkipped) and rejected.outcome == "rejected"
    assert "without the image" in rejected.reason and rejected.service == "cart"


def test_a_pull_request_closed_unmerged_rejects_the_run(
    shop: Repo,
    writer: GitopsWriter,
    pulls: PullRequestWriteback,
    redis_client: redis.Redis,
    store: PromotionPulls,
) -> None:
    deployed_to_staging(shop, writer, verdicts=redis_client)
    promote(promotion("run-p1"), writer.targets, writer.commits, pulls=pulls)
    main_before = shop.log()[0].hexsha
    closed = PullRequestClosed(
        run_id="run-p1", gitops_repository="acme/shop", number=1, merged=False
    )

    [rejected] = answer_closed(store, closed, holding(pulls, writer))

    assert isinstance(rejected, DeploymentSkipped) and rejected.outcome == "rejected"
    assert "closed without merging" in rejected.reason
    assert shop.log()[0].hexsha == main_before
    other_run = closed.model_copy(update={"run_id": "run-other"})
    # only the run the request stands for
    assert answer_closed(store, other_run, holding(pulls, writer)) == []


def test_a_pull_request_environment_without_a_host_is_refused_with_the_fix(
    shop: Repo, tmp_path: Path, redis_client: redis.Redis, store: PromotionPulls
) -> None:
    entry = Repository(name=shop.name, url=shop.url, webhook_secret="x" * 20)
    settings = Settings(workdir=tmp_path / "bare", repositories=[entry])
    writer = GitopsWriter.connect(settings, redis_client)
    deployed_to_staging(shop, writer, verdicts=redis_client)
    pulls = PullRequestWriteback(writer.commits.lock, settings.bot, store)

    with pytest.raises(PermanentError, match="has no host:"):
        promote(promotion("run-p1"), writer.targets, writer.commits, pulls=pulls)
    with pytest.raises(PermanentError, match="writes by pull request"):
        promote(promotion("run-p1"), writer.targets, writer.commits)


def test_auto_merge_is_asked_of_a_host_that_can_when_the_environment_says_so(
    tmp_path: Path,
    redis_client: redis.Redis,
    store: PromotionPulls,
    gitea: FakeGitea,  # noqa: F811
) -> None:
    production = {"approval": "pull-request", "auto_merge": True}
    shop = staging_and_production(tmp_path / "remotes", ["cart"], production)
    host = GitHost(type="gitea", api_url=gitea.api_url, token=TOKEN)
    entry = Repository(name=shop.name, url=shop.url, webhook_secret="x" * 20, host=host)
    settings = Settings(workdir=tmp_path / "c", repositories=[entry])
    writer = GitopsWriter.connect(settings, redis_client)
    deployed_to_staging(shop, writer, verdicts=redis_client)
    pulls = PullRequestWriteback(writer.commits.lock, settings.bot, store)

    [opened] = promote(promotion("run-p1"), writer.targets, writer.commits, pulls=pulls)

    assert isinstance(opened, PullRequestOpened)
    assert gitea.store.pulls[opened.number].auto_merge is True
    assert gitea.store.pulls[opened.number].labels == ["shipline", "promotion"]

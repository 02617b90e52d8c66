"""A release tag with `releases: true` on a later environment: that environment's manifests in
one commit with the release notes, or in one pull request when it writes by pull request.
Real git remotes and Redis; the pull requests on a loopback GitHub checked against GitHub's
published OpenAPI description."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import git
import pytest
import redis

from services.committer.pull_request_writeback import PullRequestWriteback, answer_closed
from services.committer.writeback import GitopsWriter
from services.common.errors import PermanentError
from services.common.events import (
    DeploymentSkipped,
    ManifestCommitted,
    PullRequestClosed,
    PullRequestOpened,
    ReleaseImage,
    ReleaseReady,
    Source,
)
from services.common.git import Mirror
from services.common.keyspace import Keyspace
from services.common.promotion_pulls import PromotionPulls
from services.common.repository_settings import GitHost
from services.common.settings import Repository, Settings
from services.detector.environment_runs import runs_in
from tests.committer.gitrepos import (
    DIGEST,
    PULL_REQUEST_BRANCH,
    REGISTRY,
    Repo,
    merged_by_a_person,
    pinned,
    settings_for,
    staging_and_production,
)
from tests.githost.conftest import (  # noqa: F401 (fixtures)
    TOKEN,
    github,
    github_description,
)
from tests.githost.fake_github import FakeGitHub

SERVICES = ["cart", "search"]
BRANCH = PULL_REQUEST_BRANCH


def overlay(environment: str, service: str) -> str:
    return f"k8s/{environment}/{service}.yaml"


def shop_with(root: Path, production: dict[str, object]) -> Repo:
    """A monorepo with staging and production overlays, `production` its second environment;
    tagged v1.0.0, two commits, then v1.1.0."""
    repo = staging_and_production(root, SERVICES, production)
    repo.tag("v1.0.0", repo.log()[0].hexsha)
    repo.commit({"cart/app.txt": "2\n"}, "feat(cart): coupons")
    repo.tag("v1.1.0", repo.commit({"search/app.txt": "2\n"}, "fix(search): accents"))
    return repo


def tagged(shop: Repo, version: str) -> str:
    with git.Repo(shop.bare) as repo:
        return repo.commit(version).hexsha


def ready(shop: Repo, version: str = "v1.1.0", run_id: str = "run-rel") -> ReleaseReady:
    commit = tagged(shop, version)
    return ReleaseReady(
        run_id=run_id,
        source=Source(repository=shop.name, commit=commit, ref=f"refs/tags/{version}"),
        version=version,
        images={
            s: ReleaseImage(image_repository=f"{REGISTRY}/{s}", tag=version, digest=DIGEST)
            for s in SERVICES
        },
    )


@pytest.fixture
def shop(tmp_path: Path) -> Repo:
    return shop_with(tmp_path / "remotes", {"releases": True})


@pytest.fixture
def writer(shop: Repo, tmp_path: Path, redis_client: redis.Redis) -> GitopsWriter:
    return GitopsWriter.connect(settings_for(tmp_path / "c", shop), redis_client)


def test_a_release_to_production_writes_its_overlays_only_in_one_commit_with_the_notes(
    shop: Repo, writer: GitopsWriter, tmp_path: Path
) -> None:
    before = len(shop.log())

    events = writer.release(ready(shop))

    log = shop.log()
    assert len(log) == before + 1
    head = log[0]
    assert head.message.startswith("release v1.1.0 [skip ci]\n\n## v1.1.0 (changes since v1.0.0)")
    assert "- **cart:** coupons" in head.message and "- **search:** accents" in head.message
    commit = tagged(shop, "v1.1.0")
    for service in SERVICES:
        assert f"Shipline-Deployed: {service} acme/shop@{commit} in production\n" in head.message
        assert f"image: {REGISTRY}/{service}:v1.1.0   #" in shop.read(
            overlay("production", service)
        )
        assert f"{REGISTRY}/{service}:initial" in shop.read(overlay("staging", service))
    assert sorted(head.stats.files) == [overlay("production", s) for s in SERVICES]
    assert [e.type for e in events] == ["ManifestCommitted"] * 2
    for event, service in zip(events, SERVICES, strict=True):
        assert isinstance(event, ManifestCommitted)
        assert (event.kind, event.gitops_commit) == ("release", head.hexsha)
        assert event.manifest_path == overlay("production", service)
    mirror = Mirror(shop.url, tmp_path / "mirror")
    mirror.fetch()
    head_sha = mirror.resolve("refs/heads/main") or ""
    assert runs_in(mirror, head_sha, "production", first=False)["cart"].commit == commit
    assert "cart" not in runs_in(mirror, head_sha, "staging", first=True)  # never staging's


def test_an_older_release_after_a_newer_one_never_moves_production_backwards(
    shop: Repo, writer: GitopsWriter
) -> None:
    writer.release(ready(shop))
    before = len(shop.log())

    events = writer.release(ready(shop, "v1.0.0", "run-old"))

    assert len(shop.log()) == before
    assert [(e.type, getattr(e, "outcome", "")) for e in events] == [
        ("DeploymentSkipped", "superseded")
    ] * 2
    assert all(isinstance(e, DeploymentSkipped) for e in events)


def test_a_service_pinned_in_production_is_held_out_of_the_release_and_a_staging_pin_is_not(
    shop: Repo, writer: GitopsWriter
) -> None:
    pinned(shop, "cart", f"{REGISTRY}/cart:initial", environment="production")
    pinned(shop, "search", f"{REGISTRY}/search:initial")  # staging's: no say in production

    events = writer.release(ready(shop))

    outcomes = {e.service: (e.type, getattr(e, "outcome", "")) for e in events}  # type: ignore[attr-defined]
    assert outcomes == {"cart": ("DeploymentSkipped", "held"), "search": ("ManifestCommitted", "")}
    assert f"{REGISTRY}/cart:initial" in shop.read(overlay("production", "cart"))
    assert f"{REGISTRY}/search:v1.1.0" in shop.read(overlay("production", "search"))
    skipped = events[0]
    assert isinstance(skipped, DeploymentSkipped) and "pinned in production" in skipped.reason


def test_a_redelivered_release_to_production_commits_nothing_more(
    shop: Repo, writer: GitopsWriter
) -> None:
    first = writer.release(ready(shop))
    commits = len(shop.log())

    again = writer.release(ready(shop))

    assert len(shop.log()) == commits
    assert [e.gitops_commit for e in again] == [e.gitops_commit for e in first]  # type: ignore[attr-defined]


def test_a_release_to_production_on_its_own_gitops_branch_is_committed_there_only(
    tmp_path: Path, redis_client: redis.Redis
) -> None:
    shop = shop_with(tmp_path / "remotes", {"releases": True, "gitops": {"branch": "prod"}})
    shop.clone.git.push("origin", "HEAD:refs/heads/prod")
    shop.clone.close()
    writer = GitopsWriter.connect(settings_for(tmp_path / "c", shop), redis_client)
    main_head = shop.log()[0].hexsha

    events = writer.release(ready(shop))

    assert shop.log()[0].hexsha == main_head
    with git.Repo(shop.bare) as bare:
        head = bare.commit("prod")
        assert head.message.startswith("release v1.1.0 [skip ci]")
        assert f"acme/shop@{tagged(shop, 'v1.1.0')} in production\n" in head.message
        for service in SERVICES:
            text = shop.read(overlay("production", service), "prod")
            assert f"image: {REGISTRY}/{service}:v1.1.0   #" in text
        assert [(e.branch, e.gitops_commit) for e in events] == [  # type: ignore[attr-defined]
            ("prod", head.hexsha)
        ] * 2
        again = writer.release(ready(shop))  # a redelivery
        assert bare.commit("prod").hexsha == head.hexsha
    assert [e.gitops_commit for e in again] == [head.hexsha] * 2  # type: ignore[attr-defined]


@pytest.mark.integration  # npm fetches GitHub's description into the devenv state
def test_a_release_to_production_written_by_pull_request_opens_one_with_the_notes(
    tmp_path: Path,
    redis_client: redis.Redis,
    github: FakeGitHub,  # noqa: F811
) -> None:
    shop = shop_with(tmp_path / "remotes", {"releases": True, "approval": "pull-request"})
    host = GitHost(type="github", api_url=github.host.url, token=TOKEN)
    entry = Repository(name=shop.name, url=shop.url, webhook_secret="x" * 20, host=host)
    settings = Settings(workdir=tmp_path / "c", repositories=[entry])
    writer = GitopsWriter.connect(settings, redis_client)
    store = PromotionPulls(redis_client, keys=Keyspace())
    pulls = PullRequestWriteback(writer.commits.lock, settings.bot, store)
    main_before = shop.log()[0].hexsha
    commit = tagged(shop, "v1.1.0")

    with pytest.raises(PermanentError, match="production writes by pull request"):
        writer.release(ready(shop))
    events = writer.release(ready(shop), pulls)

    assert shop.log()[0].hexsha == main_before  # the protected branch is untouched
    for service in SERVICES:
        assert f"{REGISTRY}/{service}:v1.1.0" in shop.read(overlay("production", service), BRANCH)
    assert [e.type for e in events] == ["PullRequestOpened"] * 2
    assert all(isinstance(e, PullRequestOpened) and e.environment == "production" for e in events)
    pull = github.store.pulls[1]
    assert (pull.title, pull.head, pull.base) == ("Release v1.1.0 to production", BRANCH, "main")
    assert pull.labels == ["shipline", "release"]
    assert "## v1.1.0 (changes since v1.0.0)" in pull.body
    assert "- **cart:** coupons" in pull.body and f"acme/shop@{commit[:12]}" in pull.body
    assert list(github.store.pulls) == [1]  # one request for the whole release
    merge = merged_by_a_person(shop)
    closed = PullRequestClosed(
        run_id="run-rel",
        gitops_repository="acme/shop",
        number=1,
        merged=True,
        merge_commit_sha=merge,
    )
    committed = answer_closed(store, closed, partial(pulls.holding, writer.targets))
    assert [(e.service, e.manifest_path, e.kind) for e in committed] == [  # type: ignore[attr-defined]
        (s, overlay("production", s), "release") for s in SERVICES
    ]
    assert all(e.gitops_commit == merge for e in committed)  # type: ignore[attr-defined]


def test_a_release_without_releases_true_still_writes_the_first_environment(
    tmp_path: Path, redis_client: redis.Redis
) -> None:
    shop = shop_with(tmp_path / "remotes", {})
    writer = GitopsWriter.connect(settings_for(tmp_path / "c", shop), redis_client)

    events = writer.release(ready(shop))

    head = shop.log()[0]
    assert sorted(head.stats.files) == [overlay("staging", s) for s in SERVICES]
    assert " in production" not in head.message and " in staging" not in head.message
    assert [e.manifest_path for e in events] == [overlay("staging", s) for s in SERVICES]  # type: ignore[attr-defined]

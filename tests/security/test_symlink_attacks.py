"""V1: a repository writer commits symbolic links to make Shipline read or write outside the
checkout. Through a running `shipline up` (a push), and the real committer stage against real
git remotes and Redis: the link is refused with an error that names the file and the link,
the file outside is untouched, nothing is committed. The builder's side (a symlinked context
or Dockerfile) on a real mirror."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import git
import pytest
import redis

from services.builder.context import context_file
from services.committer.task import STAGE
from services.committer.writeback import GitopsWriter
from services.common.errors import PermanentError
from services.common.events import ReleaseImage, ReleaseReady, RollbackRequested, Source
from services.common.git import Mirror
from services.common.runtime import Runtime
from services.common.scan_verdicts import ScanVerdict, ScanVerdicts
from services.demo.scenario import Push
from tests.committer.gitrepos import (
    DEVELOPER,
    DIGEST,
    REGISTRY,
    Repo,
    deployment,
    monorepo,
    scan_passed,
    scanned,
    settings_for,
)
from tests.stack import Stack

pytestmark = pytest.mark.integration  # git repositories built with the git binary
SERVICES = ["cart", "search"]
HOST_TEXT = "export PATH=/usr/bin  # a file of the host, outside every checkout\n"


def commit_links(repo: Repo, links: dict[str, str], message: str) -> str:
    """Replace each path with a symbolic link to its target, commit and push."""
    repo.clone.git.pull("--ff-only", "origin", "main")
    for path, target in links.items():
        place = repo.work / path
        if place.is_dir() and not place.is_symlink():
            shutil.rmtree(place)
        elif place.exists() or place.is_symlink():
            place.unlink()
        place.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, place)
    repo.clone.git.add("-A")
    sha = repo.clone.index.commit(message, author=DEVELOPER, committer=DEVELOPER).hexsha
    repo.clone.git.push("origin", "HEAD:refs/heads/main")
    repo.clone.close()
    return sha


@pytest.fixture
def host_file(tmp_path: Path) -> Path:
    path = tmp_path / "host" / "profile"
    path.parent.mkdir()
    path.write_text(HOST_TEXT)
    return path


@pytest.fixture
def shop(tmp_path: Path) -> Repo:
    return monorepo(tmp_path / "remotes", SERVICES, gitops={"changelog": "docs/CHANGELOG.md"})


@pytest.fixture
def runtime(shop: Repo, tmp_path: Path, redis_url: str, redis_client: redis.Redis) -> Runtime:
    return Runtime(settings_for(tmp_path / "w", shop, redis_url=redis_url))


def release_of(shop: Repo, runtime: Runtime, commit: str, version: str) -> ReleaseReady:
    verdicts = ScanVerdicts(runtime.redis)
    for service in SERVICES:
        verdicts.record(ScanVerdict.of(scan_passed(shop, service, commit, "run-rel", version)))
    return ReleaseReady(
        run_id="run-rel",
        source=Source(repository=shop.name, commit=commit, ref=f"refs/tags/{version}"),
        version=version,
        images={
            s: ReleaseImage(image_repository=f"{REGISTRY}/{s}", tag=version, digest=DIGEST)
            for s in SERVICES
        },
    )


def test_a_push_that_links_a_manifest_outside_fails_the_run_and_leaves_the_file(
    stack: Stack, tmp_path: Path
) -> None:
    sample, manifest = stack.sample, "k8s/manifests/user-service/deployment.yaml"
    sample.pull()
    host_file = tmp_path / "deployment.yaml"  # the attacker's guess of a file on the host
    host_file.write_text((sample.clone / manifest).read_text())
    outside = host_file.read_text()
    (sample.clone / manifest).unlink()
    os.symlink(host_file, sample.clone / manifest)
    with (sample.clone / "user_service" / "app.txt").open("a") as app:
        app.write("Linked manifest.\n")
    with git.Repo(sample.clone) as repo:
        before = repo.head.commit.hexsha
        repo.git.add(manifest, "user_service/app.txt")
        repo.index.commit("chore(user): manifest elsewhere", author=DEVELOPER, committer=DEVELOPER)
        repo.git.push("origin", "HEAD:refs/heads/main")
        push = Push(before, repo.head.commit.hexsha)

    response = stack.push_webhook(push)

    assert response.status_code == 202, response.text
    run = stack.wait_for_run(response.json()["run_id"])
    # the detector's checks refuse the link before anything is built (the committer would
    # too, tested below: a deploy never rewrites a file outside through a symlinked manifest)
    assert run["status"] == "failed", run
    assert f"{manifest!r} is a symbolic link, which Shipline never follows" in run["failure"]
    assert run["services"] == {}
    assert host_file.read_text() == outside
    assert sample.remote_head().hexsha == push.after  # nothing committed


def test_a_release_never_writes_its_notes_through_a_symlinked_changelog(
    shop: Repo, runtime: Runtime, host_file: Path
) -> None:
    commit_links(shop, {"docs/CHANGELOG.md": str(host_file)}, "docs: changelog")
    shop.commit({"cart/app.txt": "2\n"}, "feat(cart): $(curl evil) prepended to the host")
    head = shop.log()[0].hexsha
    shop.tag("v1.1.0", head)
    before = len(shop.log())

    with pytest.raises(PermanentError) as refused:
        STAGE.factory(runtime)(release_of(shop, runtime, head, "v1.1.0"))

    assert host_file.read_text() == HOST_TEXT
    assert "docs/CHANGELOG.md" in str(refused.value)
    assert "is a symbolic link" in str(refused.value)
    assert "replace the link with the file" in str(refused.value)
    assert len(shop.log()) == before


def test_a_deploy_never_rewrites_a_file_outside_through_a_symlinked_manifest(
    shop: Repo, runtime: Runtime, host_file: Path
) -> None:
    host_file.write_text(deployment("cart", f"{REGISTRY}/cart:initial"))
    outside = host_file.read_text()
    commit = commit_links(shop, {"k8s/cart.yaml": str(host_file)}, "chore: move the manifest")
    before = len(shop.log())

    with pytest.raises(PermanentError, match=r"k8s/cart.yaml .*k8s/cart.yaml is a symbolic link"):
        STAGE.factory(runtime)(scanned(runtime.redis, scan_passed(shop, "cart", commit, "run-1")))

    assert host_file.read_text() == outside
    assert len(shop.log()) == before


def test_a_deploy_never_writes_under_a_symlinked_manifest_directory(
    shop: Repo, runtime: Runtime, host_file: Path
) -> None:
    outside = host_file.parent
    (outside / "cart.yaml").write_text(deployment("cart", f"{REGISTRY}/cart:initial"))
    commit = commit_links(shop, {"k8s": str(outside)}, "chore: manifests elsewhere")
    before = len(shop.log())

    with pytest.raises(PermanentError, match=r"k8s/cart.yaml .*: k8s is a symbolic link"):
        STAGE.factory(runtime)(scanned(runtime.redis, scan_passed(shop, "cart", commit, "run-1")))

    assert (outside / "cart.yaml").read_text() == deployment("cart", f"{REGISTRY}/cart:initial")
    assert len(shop.log()) == before


def test_a_symlinked_shipline_yaml_is_refused_not_read_through(
    shop: Repo, runtime: Runtime, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere.yaml"
    elsewhere.write_text((shop.work / "shipline.yaml").read_text())
    commit = commit_links(shop, {"shipline.yaml": str(elsewhere)}, "chore: config elsewhere")

    with pytest.raises(PermanentError, match="shipline.yaml is a symbolic link in commit"):
        STAGE.factory(runtime)(scanned(runtime.redis, scan_passed(shop, "cart", commit, "run-1")))


def test_a_manifest_symlinked_to_another_file_of_the_repository_is_refused_too(
    shop: Repo, runtime: Runtime
) -> None:
    commit = commit_links(shop, {"k8s/cart.yaml": "search.yaml"}, "chore: share a manifest")
    search = shop.read("k8s/search.yaml")

    with pytest.raises(PermanentError, match="is a symbolic link"):
        STAGE.factory(runtime)(scanned(runtime.redis, scan_passed(shop, "cart", commit, "run-1")))

    assert shop.read("k8s/search.yaml") == search


def test_a_rollback_history_never_reads_a_manifest_version_that_was_a_symlink(
    shop: Repo, host_file: Path, tmp_path: Path
) -> None:
    commit = commit_links(shop, {"k8s/cart.yaml": str(host_file)}, "chore: link")
    mirror = Mirror(shop.url, tmp_path / "mirrors")
    mirror.fetch()

    with pytest.raises(PermanentError, match="k8s/cart.yaml is a symbolic link in commit"):
        mirror.read_file(commit, "k8s/cart.yaml")


def test_a_rollback_stops_its_history_at_a_version_that_was_a_symlink(
    shop: Repo, host_file: Path, tmp_path: Path, redis_client: redis.Redis
) -> None:
    writer = GitopsWriter.connect(settings_for(tmp_path / "c", shop), redis_client)
    commit_links(shop, {"k8s/cart.yaml": str(host_file)}, "chore: link")
    (shop.work / "k8s" / "cart.yaml").unlink()  # the developer's clone: the link, not the file
    shop.commit({"k8s/cart.yaml": deployment("cart", f"{REGISTRY}/cart:restored")}, "fix: file")
    newer = shop.commit({"cart/app.txt": "3\n"}, "feat(cart): newer")
    writer.deploy(scan_passed(shop, "cart", newer, "run-2"))
    request = RollbackRequested(
        run_id="run-rb", service="cart", repository=shop.name, requested_by="api-token-1"
    )

    committed = writer.rollback(request)

    assert committed.new_image == f"{REGISTRY}/cart:restored"
    assert host_file.read_text() == HOST_TEXT


# --- the builder: a context or Dockerfile that is, or lies under, a link in the commit ------


def build_context_of(shop: Repo, tmp_path: Path, directory: str, dockerfile: str) -> None:
    mirror = Mirror(shop.url, tmp_path / "mirrors")
    mirror.fetch()
    with context_file(
        mirror,
        shop.log()[0].hexsha,
        directory,
        dockerfile,
        {},
        inline_labels=True,
        workdir=tmp_path / "contexts",
        max_bytes=1 << 20,
        what="service cart",
    ):
        pass


def test_a_build_context_that_is_a_symlinked_directory_is_refused(
    shop: Repo, tmp_path: Path, host_file: Path
) -> None:
    commit_links(shop, {"cart": str(host_file.parent)}, "chore: build the host")

    with pytest.raises(PermanentError, match="cart is a symbolic link in commit"):
        build_context_of(shop, tmp_path, "cart", "Dockerfile")


def test_a_build_context_under_a_symlinked_directory_is_refused(shop: Repo, tmp_path: Path) -> None:
    shop.commit({"real/cart/Dockerfile": "FROM scratch\n"}, "build: real")
    commit_links(shop, {"services": "real"}, "build: alias")

    with pytest.raises(PermanentError, match="services is a symbolic link in commit"):
        build_context_of(shop, tmp_path, "services/cart", "Dockerfile")


def test_a_symlinked_dockerfile_is_refused(shop: Repo, tmp_path: Path, host_file: Path) -> None:
    commit_links(shop, {"cart/Dockerfile": str(host_file)}, "build: dockerfile elsewhere")

    with pytest.raises(PermanentError, match="cart/Dockerfile is a symbolic link in commit"):
        build_context_of(shop, tmp_path, "cart", "Dockerfile")

"""A release's cost per service stays flat as it grows: the git commands its commit and the
survey after it run, counted on real repositories and Redis (bench/release_scaling.py
measures the times)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import git
import redis

from services.committer.survey import resurvey
from services.committer.writeback import GitopsWriter
from services.common.events import ManifestCommitted, ReleaseImage, ReleaseReady, Source
from services.common.runs import RunStore
from services.common.service_inventory import InventoryStore
from services.detector.deployed import DeployedCache
from tests.committer.gitrepos import DIGEST, REGISTRY, Repo, monorepo, settings_for


@contextmanager
def git_commands() -> Iterator[list[list[str]]]:
    """Every git command GitPython runs meanwhile (Mirror, Checkout and Repo alike)."""
    seen: list[list[str]] = []
    original = git.cmd.Git.execute

    def execute(self: git.cmd.Git, command: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append([str(part) for part in command] if isinstance(command, list) else [command])
        return original(self, command, *args, **kwargs)

    git.cmd.Git.execute = execute  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        git.cmd.Git.execute = original  # type: ignore[method-assign]


def release_of(repo: Repo, services: list[str], version: str) -> ReleaseReady:
    commit = repo.commit({f"{s}/app.txt": f"{version}\n" for s in services}, f"feat: {version}")
    repo.tag(version, commit)
    return ReleaseReady(
        run_id="run-rel",
        source=Source(repository=repo.name, commit=commit, ref=f"refs/tags/{version}"),
        version=version,
        images={
            s: ReleaseImage(image_repository=f"{REGISTRY}/{s}", tag=version, digest=DIGEST)
            for s in services
        },
    )


def second_release_commands(root: Path, client: redis.Redis, size: int) -> list[list[str]]:
    """The git commands of a release after an earlier one deployed every service."""
    services = [f"svc-{index:02d}" for index in range(size)]
    repo = monorepo(root / "remotes", services)
    writer = GitopsWriter.connect(settings_for(root / "work", repo), client)
    RunStore(client).create("run-rel", trigger="tag")
    writer.release(release_of(repo, services, "v1.0.0"))
    ready = release_of(repo, services, "v1.1.0")
    with git_commands() as seen:
        outcomes = writer.release(ready)
    assert [type(o) for o in outcomes] == [ManifestCommitted] * size
    assert f"{REGISTRY}/svc-00:v1.1.0" in repo.read("k8s/svc-00.yaml")
    return seen


def test_a_release_asks_git_about_ancestry_once_not_for_every_service(
    tmp_path: Path, redis_client: redis.Redis
) -> None:
    small = second_release_commands(tmp_path / "small", redis_client, 3)
    large = second_release_commands(tmp_path / "large", redis_client, 12)

    def ancestry(commands: list[list[str]]) -> int:
        return sum("--is-ancestor" in c for c in commands)

    assert ancestry(large) == ancestry(small) == 1, large
    # what is left per service: reading its last deploy (one git log)
    assert len(large) - len(small) == 12 - 3, large


def survey_commands(root: Path, client: redis.Redis, size: int) -> list[list[str]]:
    """The git commands of the inventory's survey after a release of `size` services."""
    services = [f"svc-{index:02d}" for index in range(size)]
    repo = monorepo(root / "remotes", services, name=f"acme/shop-{size}")
    settings = settings_for(root / "work", repo)
    GitopsWriter.connect(settings, client).release(release_of(repo, services, "v1.0.0"))
    inventory = InventoryStore(client)
    with git_commands() as seen:
        found = resurvey(settings, inventory, repo.name, deployed=DeployedCache(client))
    assert found is not None and found.error is None, found
    assert {row.service: row.image for row in found.services} == {
        s: f"{REGISTRY}/{s}:v1.0.0" for s in services
    }
    return seen


def test_the_survey_after_a_commit_reads_every_manifest_in_the_same_git_commands(
    tmp_path: Path, redis_client: redis.Redis
) -> None:
    small = survey_commands(tmp_path / "small", redis_client, 3)
    large = survey_commands(tmp_path / "large", redis_client, 12)

    assert len(large) == len(small), large  # not three more for each service

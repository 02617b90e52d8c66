"""Mirror.fetch(unless_present=...): builders of one push fetch once and never read a commit
whose trees are still arriving. Real git repositories on disk."""

from __future__ import annotations

import threading
from pathlib import Path

import git
import pytest

from services.common.git import Mirror

pytestmark = pytest.mark.integration  # git repositories built with the git binary
AUTHOR = git.Actor("Dana Developer", "dana@shop.example")


@pytest.fixture
def remote(tmp_path: Path) -> tuple[Path, Path]:
    bare, clone = tmp_path / "remote.git", tmp_path / "clone"
    git.Repo.init(bare, bare=True, initial_branch="main").close()
    with git.Repo.init(clone, initial_branch="main") as repo:
        repo.create_remote("origin", f"file://{bare}")
    return bare, clone


def commit(clone: Path, services: int, text: str) -> str:
    with git.Repo(clone) as repo:
        for index in range(services):
            path = clone / f"svc-{index}" / "app.txt"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        repo.git.add("--all")
        sha = repo.index.commit(text, author=AUTHOR, committer=AUTHOR).hexsha
        repo.git.push("origin", "HEAD:refs/heads/main")
        return sha


def test_a_commit_already_in_the_mirror_is_not_fetched_again(remote, tmp_path) -> None:
    bare, clone = remote
    sha = commit(clone, 1, "one")
    mirror = Mirror(f"file://{bare}", tmp_path / "mirrors")
    mirror.fetch()
    commit(clone, 1, "two")  # the remote moved on

    mirror.fetch(unless_present=sha)

    assert mirror.has_commit(sha)
    assert mirror.resolve("refs/heads/main") == sha  # no fetch happened


def test_concurrent_builders_of_one_push_all_read_complete_trees(remote, tmp_path) -> None:
    bare, clone = remote
    commit(clone, 8, "base")
    Mirror(f"file://{bare}", tmp_path / "mirrors").fetch()
    sha = commit(clone, 8, "new")  # a small fetch: git writes loose objects one by one
    archives: list[bytes] = []
    errors: list[Exception] = []
    start = threading.Barrier(8)

    def builder(index: int) -> None:
        mirror = Mirror(f"file://{bare}", tmp_path / "mirrors")
        start.wait()
        try:
            mirror.fetch(unless_present=sha)
            with mirror.archive(sha, f"svc-{index}") as stream:
                archives.append(stream.read())
        except Exception as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=builder, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert len(archives) == 8

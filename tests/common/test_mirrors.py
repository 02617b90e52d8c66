"""shipline.yaml read from a mirror (services/common/mirrors.py), on real git."""

from __future__ import annotations

from pathlib import Path

import git
import pytest

from services.common.git import Mirror
from services.common.mirrors import project_at

pytestmark = pytest.mark.integration  # real git repositories

PROJECT = """\
registry: 127.0.0.1:5000/acme
services:
  web:
    path: web/
"""


@pytest.fixture
def mirror(tmp_path: Path) -> tuple[Mirror, str]:
    with git.Repo.init(tmp_path / "remote", initial_branch="main") as remote:
        for name, text in {"shipline.yaml": PROJECT, "web/Dockerfile": "FROM scratch\n"}.items():
            (tmp_path / "remote" / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / "remote" / name).write_text(text)
        remote.index.add(["shipline.yaml", "web/Dockerfile"])
        actor = git.Actor("Dev", "dev@example.com")
        commit = remote.index.commit("initial", author=actor, committer=actor).hexsha
    found = Mirror(f"file://{tmp_path / 'remote'}", tmp_path / "mirrors")
    found.fetch()
    return found, commit


def reads_of(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    commits: list[str] = []
    read = Mirror.read_file

    def counted(self: Mirror, commit: str, path: str, max_bytes: int | None = None):  # type: ignore[no-untyped-def]
        commits.append(commit)
        return read(self, commit, path, max_bytes)

    monkeypatch.setattr(Mirror, "read_file", counted)
    return commits


def test_shipline_yaml_at_a_commit_is_read_from_git_once_per_process(mirror, monkeypatch):
    found, commit = mirror
    reads = reads_of(monkeypatch)

    first = project_at(found, "acme/shop", commit)
    again = project_at(Mirror(found.url, found.path.parent), "acme/shop", commit)

    assert list(first.services) == list(again.services) == ["web"]
    assert reads == [commit]


def test_shipline_yaml_at_a_branch_name_is_read_each_time_since_the_branch_moves(
    mirror, monkeypatch
):
    found, _ = mirror
    reads = reads_of(monkeypatch)

    project_at(found, "acme/shop", "refs/heads/main")
    project_at(found, "acme/shop", "refs/heads/main")

    assert reads == ["refs/heads/main", "refs/heads/main"]


def test_an_outsized_shipline_yaml_is_not_kept_in_memory(tmp_path, monkeypatch):
    padding = "# " + "x" * 100 + "\n"
    with git.Repo.init(tmp_path / "remote", initial_branch="main") as remote:
        (tmp_path / "remote" / "shipline.yaml").write_text(PROJECT + padding * 2_000)
        remote.index.add(["shipline.yaml"])
        actor = git.Actor("Dev", "dev@example.com")
        commit = remote.index.commit("big", author=actor, committer=actor).hexsha
    found = Mirror(f"file://{tmp_path / 'remote'}", tmp_path / "mirrors")
    found.fetch()
    reads = reads_of(monkeypatch)

    project_at(found, "acme/shop", commit)
    project_at(found, "acme/shop", commit)

    assert reads == [commit, commit]

"""Mirror.read_files: many files of one commit in a fixed number of git commands, each
answered exactly as read_file answers it (links refused, never read through)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from services.common.git import Mirror
from services.common.safe_files import UnsafePath
from tests.committer.test_release_scale import git_commands

pytestmark = pytest.mark.integration  # git repositories built with the git binary


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture
def mirror(tmp_path: Path) -> tuple[Mirror, str]:
    """A repository with 20 manifests, a directory, and links to a file and a directory."""
    work = tmp_path / "work"
    (work / "k8s").mkdir(parents=True)
    for index in range(20):
        (work / "k8s" / f"svc-{index:02d}.yaml").write_text(f"image: svc-{index}\n")
    (work / "real").mkdir()
    (work / "real" / "inner.yaml").write_text("inner\n")
    os.symlink("real", work / "linked-dir")
    os.symlink("k8s/svc-00.yaml", work / "linked.yaml")
    git(work, "init", "-q", "-b", "main")
    git(work, "add", "-A")
    git(work, "-c", "user.name=d", "-c", "user.email=d@example.com", "commit", "-qm", "files")
    mirror = Mirror(f"file://{work}", tmp_path / "mirrors")
    mirror.fetch()
    return mirror, git(work, "rev-parse", "HEAD")


def test_read_files_answers_each_path_as_read_file_does(mirror: tuple[Mirror, str]) -> None:
    repo, head = mirror
    paths = ["k8s/svc-03.yaml", "real/inner.yaml", "k8s", "missing.yaml", "k8s/svc-03.yaml/x"]

    files = repo.read_files(head, paths)

    assert files == {path: repo.read_file(head, path) for path in paths}
    assert files["k8s/svc-03.yaml"] == b"image: svc-3\n"
    assert files["k8s"] is None and files["missing.yaml"] is None


@pytest.mark.parametrize("path", ["linked.yaml", "linked-dir/inner.yaml"])
def test_read_files_refuses_a_link_on_the_way_as_read_file_does(
    mirror: tuple[Mirror, str], path: str
) -> None:
    repo, head = mirror

    with pytest.raises(UnsafePath, match="is a symbolic link"):
        repo.read_files(head, ["k8s/svc-00.yaml", path])


def test_read_files_runs_as_many_git_commands_for_twenty_files_as_for_two(
    mirror: tuple[Mirror, str],
) -> None:
    repo, head = mirror
    with git_commands() as two:
        repo.read_files(head, ["k8s/svc-00.yaml", "k8s/svc-01.yaml"])
    with git_commands() as twenty:
        files = repo.read_files(head, [f"k8s/svc-{index:02d}.yaml" for index in range(20)])

    assert len(twenty) == len(two) == 2  # ls-tree (which finds the commit), cat-file --batch
    assert files["k8s/svc-19.yaml"] == b"image: svc-19\n"

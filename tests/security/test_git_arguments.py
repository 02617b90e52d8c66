"""Values from events, webhooks and shipline.yaml never become git options: a revision or
branch that starts with `-` is refused before git runs, a path that does is only ever a path.
Real repositories (a bare remote and its mirror or gitops checkout)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from services.common.errors import PermanentError
from services.common.git import Mirror
from services.common.git_args import InvalidGitArgument
from services.common.git_checkout import Checkout
from tests.committer.gitrepos import Repo, monorepo

pytestmark = pytest.mark.integration  # git repositories built with the git binary


@pytest.fixture
def shop(tmp_path: Path) -> Repo:
    return monorepo(tmp_path / "remotes", ["cart"])


@pytest.fixture
def mirror(shop: Repo, tmp_path: Path) -> Mirror:
    mirror = Mirror(shop.url, tmp_path / "mirrors")
    mirror.fetch()
    return mirror


def _archive(mirror: Mirror, revision: str, head: str) -> None:
    with mirror.archive(revision, "cart"):
        pass


CALLS: dict[str, Callable[[Mirror, str, str], Any]] = {
    "has_commit": lambda m, r, h: m.has_commit(r),
    "changed_paths": lambda m, r, h: m.changed_paths(h, r),
    "log": lambda m, r, h: m.log(None, r),
    "log base": lambda m, r, h: m.log(r, h),
    "fast_forward": lambda m, r, h: m.fast_forward(r, h),
    "is_ancestor": lambda m, r, h: m.is_ancestor(h, r),
    "merge_base": lambda m, r, h: m.merge_base(r, h),
    "resolve": lambda m, r, h: m.resolve(r),
    "diff_paths": lambda m, r, h: m.diff_paths(r, h),
    "diff_status": lambda m, r, h: m.diff_status(r, h),
    "tree_paths": lambda m, r, h: m.tree_paths(r),
    "previous_tag": lambda m, r, h: m.previous_tag(r, ["v*"]),
    "read_file": lambda m, r, h: m.read_file(r, "shipline.yaml"),
    "archive": _archive,
}


@pytest.mark.parametrize("call", CALLS.values(), ids=list(CALLS))
@pytest.mark.parametrize("revision", ["--output={pwned}", "-o{pwned}", "HEAD..--output={pwned}"])
def test_a_revision_that_reads_as_an_option_is_refused_before_git_runs(
    mirror: Mirror, shop: Repo, tmp_path: Path, call: Callable[..., Any], revision: str
) -> None:
    pwned = tmp_path / "pwned"

    with pytest.raises(InvalidGitArgument, match="refusing git revision"):
        call(mirror, revision.format(pwned=pwned), shop.log()[0].hexsha)

    assert not pwned.exists()


@pytest.mark.parametrize("branch", ["--upload-pack=touch /tmp/x", "-b", "main..x", ".hidden"])
def test_a_gitops_branch_that_is_no_branch_name_is_refused(
    shop: Repo, tmp_path: Path, branch: str
) -> None:
    with pytest.raises(InvalidGitArgument, match="refusing git branch name"):
        Checkout(shop.url, branch, tmp_path / "gitops")


def test_a_file_named_like_an_option_is_read_from_a_commit_as_a_path(
    shop: Repo, mirror: Mirror
) -> None:
    commit = shop.commit({"--help": "not an option\n"}, "docs: an odd name")
    mirror.fetch()

    assert mirror.read_file(commit, "--help") == b"not an option\n"


def test_a_path_named_like_an_option_is_committed_as_that_path_only(
    shop: Repo, tmp_path: Path
) -> None:
    checkout = Checkout(shop.url, "main", tmp_path / "gitops")
    checkout.sync()
    checkout.write("k8s/cart.yaml", "edited but not to be committed\n")
    checkout.write("--all", "a file\n")

    checkout.commit_and_push(["--all"], "add a file named --all", "Bot", "bot@example.com")

    [head, *_] = shop.log()
    assert list(head.stats.files) == ["--all"]
    assert shop.read("--all") == "a file\n"
    assert "edited" not in shop.read("k8s/cart.yaml")
    assert [c.sha for c in checkout.log("--all")] == [head.hexsha]


def test_a_path_with_glob_characters_is_taken_literally(shop: Repo, tmp_path: Path) -> None:
    checkout = Checkout(shop.url, "main", tmp_path / "gitops")
    checkout.sync()

    assert checkout.log("k8s/*.yaml") == []  # no such file: not every manifest


def test_paths_leaving_the_repository_never_reach_git(
    shop: Repo, mirror: Mirror, tmp_path: Path
) -> None:
    head = shop.log()[0].hexsha
    checkout = Checkout(shop.url, "main", tmp_path / "gitops")
    checkout.sync()

    for path in ("../outside", "/etc/passwd", "k8s/../../x"):
        with pytest.raises(PermanentError, match="not a relative path inside the repository"):
            mirror.read_file(head, path)
        with pytest.raises(PermanentError, match="not a relative path inside the repository"):
            checkout.commit_and_push([path], "m", "Bot", "bot@example.com")

"""The mirror's history questions, against real repositories: ancestry, ranges, trees."""

from __future__ import annotations

from pathlib import Path

import git
import pytest

from services.common.errors import PermanentError
from services.common.events import ZERO_SHA
from services.common.git import Mirror

pytestmark = pytest.mark.integration  # git repositories built with the git binary
DEV = git.Actor("Dev", "dev@example.com")
BOT = git.Actor("Bot", "bot@example.com")


class History:
    """A developer's repository pushed to a bare remote, read through a Mirror."""

    def __init__(self, root: Path) -> None:
        git.Repo.init(root / "remote.git", bare=True, initial_branch="main").close()
        self.repo = git.Repo.init(root / "dev", initial_branch="main")
        self.repo.create_remote("origin", f"file://{root / 'remote.git'}")
        self.root = root / "dev"
        self.mirror = Mirror(f"file://{root / 'remote.git'}", root / "mirrors")

    def commit(self, name: str, text: str, actor: git.Actor = DEV, message: str = "c") -> str:
        (self.root / name).parent.mkdir(parents=True, exist_ok=True)
        (self.root / name).write_text(text)
        self.repo.index.add([name])
        return self.repo.index.commit(message, author=actor, committer=actor).hexsha

    def publish(self, *refspecs: str) -> None:
        self.repo.git.push("--force", "origin", *(refspecs or ("HEAD:refs/heads/main",)))
        self.mirror.fetch()


@pytest.fixture
def history(tmp_path: Path) -> History:
    return History(tmp_path)


def test_a_fast_forward_returns_the_newest_commit_with_its_author_and_message(history):
    before = history.commit("a.txt", "1")
    history.commit("a.txt", "2")
    after = history.commit("b.txt", "3", BOT, "chore: deploy [skip ci]\n\nbody")
    history.publish()

    tip = history.mirror.fast_forward(before, after)

    assert tip is not None
    assert (tip.sha, tip.author_email) == (after, "bot@example.com")
    assert tip.message == "chore: deploy [skip ci]\n\nbody"
    assert history.mirror.is_ancestor(before, after)


def test_a_rewritten_history_is_not_a_fast_forward(history):
    base = history.commit("a.txt", "1")
    old = history.commit("a.txt", "2")
    history.publish()
    history.repo.git.reset("--hard", base)
    new = history.commit("b.txt", "3")
    history.publish()

    assert history.mirror.fast_forward(old, new) is None
    assert not history.mirror.is_ancestor(old, new)
    assert history.mirror.merge_base(old, new) == base


def test_a_merge_reaching_before_through_its_second_parent_is_a_fast_forward(history):
    history.commit("a.txt", "1")
    history.repo.git.checkout("-b", "feature")
    feature = history.commit("f.txt", "f")
    history.repo.git.checkout("main")
    history.commit("m.txt", "m")
    history.repo.git.merge("--no-ff", "-m", "merge", "feature")
    merge = history.repo.head.commit.hexsha
    history.publish("HEAD:refs/heads/main", "feature:refs/heads/feature")

    tip = history.mirror.fast_forward(feature, merge)

    assert tip is not None and tip.sha == merge


@pytest.mark.parametrize("before", ["e" * 40, ZERO_SHA], ids=["unknown", "zeros"])
def test_an_unknown_before_is_neither_a_fast_forward_nor_an_ancestor(history, before):
    after = history.commit("a.txt", "1")
    history.publish()

    assert history.mirror.fast_forward(before, after) is None
    assert not history.mirror.is_ancestor(before, after)
    assert history.mirror.merge_base(before, after) is None


def test_unrelated_histories_have_no_merge_base(history):
    main = history.commit("a.txt", "1")
    history.repo.git.checkout("--orphan", "other")
    other = history.commit("b.txt", "2")
    history.publish("main:refs/heads/main", "other:refs/heads/other")

    assert history.mirror.merge_base(main, other) is None


def test_resolve_names_the_commit_of_a_branch_or_tag_and_none_for_unknown_refs(history):
    head = history.commit("a.txt", "1")
    history.repo.create_tag("v1.0.0")
    history.publish("HEAD:refs/heads/main", "refs/tags/v1.0.0")

    assert history.mirror.resolve("refs/heads/main") == head
    assert history.mirror.resolve("refs/tags/v1.0.0") == head
    assert history.mirror.resolve("refs/heads/nope") is None


def test_log_lists_a_range_newest_first_and_honours_the_limit(history):
    base = history.commit("a.txt", "1")
    shas = [history.commit("a.txt", str(n)) for n in range(2, 6)]
    history.publish()

    assert [c.sha for c in history.mirror.log(base, shas[-1])] == shas[::-1]
    assert [c.sha for c in history.mirror.log(base, shas[-1], limit=2)] == [shas[3], shas[2]]
    assert len(history.mirror.log(None, shas[-1])) == 5


def test_paths_with_spaces_and_non_ascii_names_come_back_verbatim(history):
    before = history.commit("plain.txt", "1")
    after = history.commit("docs/naïve file.txt", "2")
    history.publish()

    assert history.mirror.diff_paths(before, after) == ["docs/naïve file.txt"]
    assert sorted(history.mirror.tree_paths(after)) == ["docs/naïve file.txt", "plain.txt"]


def test_a_diff_from_a_commit_git_does_not_have_is_a_permanent_error(history):
    after = history.commit("a.txt", "1")
    history.publish()

    with pytest.raises(PermanentError):
        history.mirror.diff_paths("e" * 40, after)


def test_fetch_keeps_a_commit_graph_for_cheap_ancestry_checks(history):
    history.commit("a.txt", "1")
    history.publish()

    graphs = history.mirror.path / "objects" / "info"
    assert (graphs / "commit-graph").exists() or (graphs / "commit-graphs").is_dir()

"""The mirror's batched questions: many trees compared with one commit, a log filtered by
its messages; against real repositories."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.common.test_git_history import BOT, History

pytestmark = pytest.mark.integration  # git repositories built with the git binary


@pytest.fixture
def history(tmp_path: Path) -> History:
    return History(tmp_path)


def test_many_bases_are_compared_with_one_commit_in_one_answer(history):
    first = history.commit("a/x.txt", "1")
    second = history.commit("b/y z.txt", "1")
    head = history.commit("a/x.txt", "2")
    history.publish()

    diffs = history.mirror.diff_paths_from([first, second, head], head)

    assert diffs == {first: ["a/x.txt", "b/y z.txt"], second: ["a/x.txt"], head: []}


def test_a_base_git_does_not_hold_is_left_out_of_the_answer(history):
    head = history.commit("a.txt", "1")
    history.publish()
    unknown = "1234567890" * 4

    assert history.mirror.diff_paths_from([unknown, head], head) == {head: []}


def test_a_log_filtered_by_a_line_of_the_message_lists_only_those_commits(history):
    history.commit("a.txt", "1")
    deploy = history.commit("b.txt", "1", BOT, "chore: deploy [skip ci]\n\nShipline-Deployed: a")
    history.commit("a.txt", "2", message="mentions Shipline-Deployed: in prose")
    history.publish()

    found = history.mirror.log(None, deploy, grep="^Shipline-Deployed: ")
    newer = history.mirror.log(None, "main", grep="^Shipline-Deployed: ")

    assert [c.sha for c in found] == [deploy] == [c.sha for c in newer]

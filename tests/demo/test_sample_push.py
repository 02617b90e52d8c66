"""The sample monorepo's pushes meet Shipline's own commits on the same remote (its manifests
live beside its code), on real git."""

from __future__ import annotations

from pathlib import Path

import git
import pytest

from services.demo.scenario import SampleMonorepo

pytestmark = pytest.mark.integration  # real git repositories


def test_a_push_rejected_for_a_commit_pushed_meanwhile_is_rebased_and_pushed_again(
    tmp_path: Path,
) -> None:
    sample = SampleMonorepo(tmp_path)
    sample.create("127.0.0.1:5000/microbank", "shipline-busybox:1")
    with git.Repo.clone_from(sample.url, tmp_path / "bot") as bot:
        (tmp_path / "bot" / "deployed.txt").write_text("a deploy commit\n")
        bot.index.add(["deployed.txt"])
        deployed = bot.index.commit("chore: deploy [skip ci]").hexsha
        bot.git.push("origin", "HEAD:refs/heads/main")

    # the developer's clone has not seen the deploy commit: its first push is refused
    (sample.clone / "NOTES.md").write_text("a change\n")
    push = sample._commit_and_push(["NOTES.md"], "docs: a change")

    with git.Repo(sample.remote) as remote:
        head = remote.commit("main")
    assert push.after == head.hexsha
    assert push.before == deployed == head.parents[0].hexsha

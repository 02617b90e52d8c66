"""What people are told about a build dropped for a newer push."""

from services.common.events import BuildSuperseded, Source
from services.notifier.messages import body, summary

OLD, NEW = "a" * 40, "b" * 40


def superseded() -> BuildSuperseded:
    return BuildSuperseded(
        run_id="run-old",
        service="api",
        source=Source(repository="acme/shop", commit=OLD, ref="refs/heads/main"),
        newer_commit=NEW,
        newer_run_id="run-new",
    )


def test_a_superseded_build_is_told_with_both_commits_and_the_branch():
    assert summary(superseded()) == (
        f"api: build of {OLD[:7]} superseded by {NEW[:7]} on refs/heads/main"
    )


def test_a_superseded_build_body_has_status_superseded():
    assert body(superseded())["status"] == "superseded"

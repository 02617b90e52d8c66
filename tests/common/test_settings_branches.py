"""Which branches of a repository deploy."""

import pytest

from services.common.settings import Repository


def repository(**fields: object) -> Repository:
    return Repository(name="acme/mono", url="file:///x", webhook_secret="s" * 20, **fields)


def test_by_default_only_the_default_branch_deploys():
    repo = repository()

    assert repo.accepts_branch("main")
    assert not repo.accepts_branch("feature/login")
    assert not repo.accepts_branch("main2")


def test_the_default_branch_can_be_another_name():
    repo = repository(default_branch="trunk")

    assert repo.accepts_branch("trunk")
    assert not repo.accepts_branch("main")


@pytest.mark.parametrize(
    ("branch", "accepted"),
    [("main", True), ("release/1.2", True), ("release", False), ("feature/x", False)],
)
def test_configured_branches_are_names_or_globs(branch, accepted):
    assert repository(branches=["main", "release/*"]).accepts_branch(branch) is accepted


def test_a_star_lets_every_branch_deploy():
    assert repository(branches=["*"]).accepts_branch("feature/anything/at/all")


def test_an_empty_list_lets_no_branch_deploy():
    assert not repository(branches=[]).accepts_branch("main")

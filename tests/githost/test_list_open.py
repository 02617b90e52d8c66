"""Listing a repository's open promotion pull requests (`list_open`), on each host: on the
loopback GitHub checked against GitHub's published OpenAPI description, and on the GitLab
and Gitea fakes that follow those hosts' docs. A fork's branch of the same name is listed
as a fork's (`same_repository` False), so nobody's fork passes for Shipline's branch."""

from __future__ import annotations

import pytest

from services.common.repository_settings import GitHost
from services.githost import PullRequests, pull_requests_for
from tests.githost.conftest import TOKEN
from tests.githost.fake_gitea import FakeGitea
from tests.githost.fake_github import FakeGitHub
from tests.githost.fake_gitlab import FakeGitLab
from tests.githost.pull_store import PullStore

pytestmark = pytest.mark.integration  # npm fetches GitHub's description into the devenv state

PREFIX = "shipline/promote-"
HEAD = "d" * 40


def some_pulls(store: PullStore) -> None:
    """Shipline's open request, a fork's of the same branch name, one into another base,
    a person's, and Shipline's closed one."""
    ours = store.add("Promote", "", "shipline/promote-production", "main")
    ours.head_sha = HEAD
    store.add("Forged", "", "shipline/promote-production", "main").fork = "mallory/gitops"
    store.add("Elsewhere", "", "shipline/promote-production", "release")
    store.add("A person's", "", "feature/x", "main")
    closed = store.add("Old", "", "shipline/promote-staging", "main")
    store.close(closed.number)


def listed(pulls: PullRequests) -> list[tuple[int, str, str | None, bool | None]]:
    return [
        (pull.number, pull.head, pull.head_sha, pull.same_repository)
        for pull in pulls.list_open("main", PREFIX)
    ]


def test_github_lists_the_open_shipline_requests_into_the_base_a_fork_marked(
    github: FakeGitHub,
) -> None:
    some_pulls(github.store)
    pulls = pull_requests_for(
        GitHost(type="github", api_url=github.host.url, token=TOKEN), "acme/gitops"
    )

    found = listed(pulls)

    assert [(number, same) for number, _, _, same in found] == [(1, True), (2, False)]
    assert found[0][2] == HEAD
    assert github.host.operations() == [("GET", "/repos/acme/gitops/pulls")]
    assert github.host.violations == []


def test_gitlab_lists_the_open_shipline_merge_requests_a_forks_marked(gitlab: FakeGitLab) -> None:
    some_pulls(gitlab.store)
    pulls = pull_requests_for(
        GitHost(type="gitlab", api_url=gitlab.api_url, token=TOKEN), "acme/gitops"
    )

    assert listed(pulls) == [
        (1, "shipline/promote-production", HEAD, True),
        (2, "shipline/promote-production", "a" * 40, False),
    ]


def test_gitea_lists_the_open_shipline_requests_a_forks_marked(gitea: FakeGitea) -> None:
    some_pulls(gitea.store)
    pulls = pull_requests_for(
        GitHost(type="gitea", api_url=gitea.api_url, token=TOKEN), "acme/gitops"
    )

    assert listed(pulls) == [
        (1, "shipline/promote-production", HEAD, True),
        (2, "shipline/promote-production", "b" * 40, False),
    ]

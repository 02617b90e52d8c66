"""Gitea pull requests over REST v1 against a loopback Gitea (tests/githost/fake_gitea.py:
shapes from Gitea's documentation; its swagger description is in no package)."""

from __future__ import annotations

import pytest

from services.common.errors import PermanentError
from services.common.repository_settings import GitHost
from services.githost import PullRequestDraft, PullRequests, PullRequestState, pull_requests_for
from services.githost.gitea import PAGE_SIZE
from tests.githost.conftest import TOKEN
from tests.githost.fake_gitea import FakeGitea

DRAFT = PullRequestDraft(
    title="Promote user-service to production",
    body="sha256:abc from staging",
    head="shipline/production",
    base="main",
    labels=("shipline", "promotion"),
)


def client(gitea: FakeGitea) -> PullRequests:
    host = GitHost(type="gitea", api_url=gitea.api_url, token=TOKEN)
    return pull_requests_for(host, "acme/gitops")


def test_a_pull_request_opens_with_its_labels_by_id_creating_the_missing_one(gitea):
    opened = client(gitea).open(DRAFT)

    assert (opened.number, opened.state, opened.base) == (1, PullRequestState.OPEN, "main")
    assert opened.url == "https://gitea.example/acme/gitops/pulls/1"
    assert gitea.store.pulls[1].labels == ["shipline", "promotion"]
    assert gitea.host.operations() == [
        ("GET", "/api/v1/repos/acme/gitops/labels"),
        ("POST", "/api/v1/repos/acme/gitops/labels"),
        ("POST", "/api/v1/repos/acme/gitops/pulls"),
    ]
    assert gitea.host.exchanges[-1].json()["labels"] == [11, 12]
    assert gitea.host.exchanges[-1].headers["authorization"] == f"token {TOKEN}"


def test_the_open_pull_request_of_a_head_branch_is_found_past_the_first_page(gitea):
    for index in range(PAGE_SIZE):
        gitea.store.add(f"other {index}", "", f"feature/{index}", "main")
    client(gitea).open(DRAFT)

    found = client(gitea).find_open("shipline/production", "main")

    assert found is not None and found.number == PAGE_SIZE + 1
    assert client(gitea).find_open("shipline/staging", "main") is None


def test_a_superseded_pull_request_is_retitled_then_closed_with_a_comment(gitea):
    pulls = client(gitea)
    pulls.open(DRAFT)

    updated = pulls.update(1, title="Promote v2", body="sha256:def")
    closed = pulls.close(1, comment="Superseded by #2")

    assert updated.title == "Promote v2" and gitea.store.pulls[1].body == "sha256:def"
    assert closed.state is PullRequestState.CLOSED
    assert gitea.store.pulls[1].comments == ["Superseded by #2"]


def test_a_merged_pull_request_reads_merged_with_its_merge_commit_and_a_closed_one_closed(gitea):
    pulls = client(gitea)
    pulls.open(DRAFT)
    pulls.open(DRAFT.model_copy(update={"head": "shipline/staging"}))
    gitea.store.merge(1, sha="3" * 40)
    gitea.store.close(2)

    merged, rejected = pulls.get(1), pulls.get(2)

    assert merged.state is PullRequestState.MERGED and merged.merge_commit_sha == "3" * 40
    assert rejected.state is PullRequestState.CLOSED and rejected.merge_commit_sha is None


def test_auto_merge_schedules_the_merge_for_when_the_checks_succeed(gitea):
    pulls = client(gitea)
    pulls.open(DRAFT)

    assert pulls.enable_auto_merge(1) is True
    assert gitea.store.pulls[1].auto_merge
    sent = gitea.host.exchanges[-1]
    assert (sent.method, sent.path) == ("POST", "/api/v1/repos/acme/gitops/pulls/1/merge")
    assert sent.json() == {"Do": "merge", "merge_when_checks_succeed": True}


def test_a_second_pull_request_for_the_same_branches_is_refused_with_giteas_message(gitea):
    pulls = client(gitea)
    pulls.open(DRAFT)

    with pytest.raises(PermanentError, match="HTTP 409: pull request already exists"):
        pulls.open(DRAFT)

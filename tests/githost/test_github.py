"""GitHub pull requests over REST against a loopback GitHub whose every request and answer
is checked against GitHub's published OpenAPI description (npm @octokit/openapi)."""

from __future__ import annotations

import httpx
import pytest

from services.common.errors import PermanentError
from services.common.repository_settings import GitHost
from services.githost import PullRequestDraft, PullRequests, PullRequestState, pull_requests_for
from tests.githost.conftest import TOKEN
from tests.githost.fake_github import FakeGitHub
from tests.githost.loopback import Reply

pytestmark = pytest.mark.integration  # npm fetches the description into the devenv state

DRAFT = PullRequestDraft(
    title="Promote user-service to production",
    body="sha256:abc from staging",
    head="shipline/production",
    base="main",
    labels=("shipline", "promotion"),
)


def client(github: FakeGitHub) -> PullRequests:
    host = GitHost(type="github", api_url=github.host.url, token=TOKEN)
    return pull_requests_for(host, "acme/gitops")


def test_a_pull_request_opens_with_its_labels_through_described_requests(github):
    opened = client(github).open(DRAFT)

    assert opened.number == 1 and opened.state is PullRequestState.OPEN
    assert (opened.head, opened.base, opened.title) == ("shipline/production", "main", DRAFT.title)
    assert opened.url.endswith("/acme/gitops/pull/1")
    assert github.store.pulls[1].labels == ["shipline", "promotion"]
    assert github.host.operations() == [
        ("POST", "/repos/acme/gitops/pulls"),
        ("POST", "/repos/acme/gitops/issues/1/labels"),
    ]
    assert github.host.violations == []


def test_the_open_pull_request_of_a_head_branch_is_found_and_no_other(github):
    pulls = client(github)
    pulls.open(DRAFT)

    found = pulls.find_open("shipline/production", "main")

    assert found is not None and found.number == 1
    assert pulls.find_open("shipline/staging", "main") is None
    assert github.host.exchanges[-1].query["head"] == "acme:shipline/staging"
    assert github.host.violations == []


def test_a_superseded_pull_request_is_retitled_then_closed_with_a_comment(github):
    pulls = client(github)
    pulls.open(DRAFT)

    updated = pulls.update(1, title="Promote v2", body="sha256:def")
    closed = pulls.close(1, comment="Superseded by #2")

    assert updated.title == "Promote v2" and github.store.pulls[1].body == "sha256:def"
    assert closed.state is PullRequestState.CLOSED and closed.merge_commit_sha is None
    assert github.store.pulls[1].comments == ["Superseded by #2"]
    assert pulls.find_open("shipline/production", "main") is None
    assert github.host.violations == []


def test_a_merged_pull_request_reads_merged_with_its_merge_commit_and_a_closed_one_closed(github):
    pulls = client(github)
    pulls.open(DRAFT)
    pulls.open(DRAFT.model_copy(update={"head": "shipline/staging"}))
    github.store.merge(1, sha="1" * 40)
    github.store.close(2)

    merged, rejected = pulls.get(1), pulls.get(2)

    assert merged.state is PullRequestState.MERGED and merged.merge_commit_sha == "1" * 40
    assert rejected.state is PullRequestState.CLOSED and rejected.merge_commit_sha is None
    assert github.host.violations == []


def test_auto_merge_is_not_offered_over_github_rest_and_nothing_is_asked(github):
    pulls = client(github)
    pulls.open(DRAFT)
    asked = len(github.host.exchanges)

    assert pulls.enable_auto_merge(1) is False
    assert len(github.host.exchanges) == asked


def test_a_second_pull_request_for_a_branch_is_refused_with_githubs_message(github):
    pulls = client(github)
    pulls.open(DRAFT)

    with pytest.raises(PermanentError) as refused:
        pulls.open(DRAFT)

    assert "HTTP 422" in str(refused.value)
    assert "A pull request already exists for acme:shipline/production" in str(refused.value)
    assert github.host.violations == []


def test_the_token_goes_in_a_bearer_header_with_the_api_version(github):
    client(github).find_open("shipline/production", "main")

    headers = github.host.exchanges[0].headers
    assert headers["authorization"] == f"Bearer {TOKEN}"
    assert headers["x-github-api-version"] == "2022-11-28"
    assert headers["accept"] == "application/vnd.github+json"


def test_a_request_the_description_does_not_allow_is_reported(github):
    httpx.post(
        f"{github.host.url}/repos/acme/gitops/pulls", json={"title": 5, "head": "x", "base": "main"}
    )

    assert any("request" in problem for problem in github.host.violations), github.host.violations


def test_an_answer_the_description_does_not_allow_is_reported(github):
    github.host.scripted.append(Reply(200, {"number": "one"}))

    with pytest.raises(PermanentError, match="GitHub answered a pull request Shipline cannot"):
        client(github).get(1)

    assert any("answer" in problem for problem in github.host.violations), github.host.violations

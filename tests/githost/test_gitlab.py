"""GitLab merge requests over REST v4 against a loopback GitLab (tests/githost/fake_gitlab.py:
shapes from GitLab's documentation; its OpenAPI description is in no package)."""

from __future__ import annotations

import pytest

from services.common.errors import PermanentError
from services.common.repository_settings import GitHost
from services.githost import PullRequestDraft, PullRequests, PullRequestState, pull_requests_for
from tests.githost.conftest import TOKEN
from tests.githost.fake_gitlab import FakeGitLab

DRAFT = PullRequestDraft(
    title="Promote user-service to production",
    body="sha256:abc from staging",
    head="shipline/production",
    base="main",
    labels=("shipline", "promotion"),
)


def client(gitlab: FakeGitLab, project: str | None = None) -> PullRequests:
    host = GitHost(type="gitlab", api_url=gitlab.api_url, token=TOKEN, project=project)
    return pull_requests_for(host, "acme/gitops")


def test_a_merge_request_opens_on_the_project_named_by_its_encoded_path_with_labels(gitlab):
    opened = client(gitlab, project="acme/platform/gitops").open(DRAFT)

    assert (opened.number, opened.state, opened.head) == (1, PullRequestState.OPEN, DRAFT.head)
    assert opened.url == "https://gitlab.example/acme/platform/gitops/-/merge_requests/1"
    sent = gitlab.host.exchanges[0]
    assert (sent.method, sent.path) == (
        "POST",
        "/api/v4/projects/acme%2Fplatform%2Fgitops/merge_requests",
    )
    assert sent.json() == {
        "source_branch": "shipline/production",
        "target_branch": "main",
        "title": DRAFT.title,
        "description": DRAFT.body,
        "labels": "shipline,promotion",
    }
    assert sent.headers["private-token"] == TOKEN


def test_the_open_merge_request_of_a_source_branch_is_found_and_no_other(gitlab):
    requests = client(gitlab)
    requests.open(DRAFT)

    found = requests.find_open("shipline/production", "main")

    assert found is not None and found.number == 1
    assert requests.find_open("shipline/staging", "main") is None
    assert gitlab.host.exchanges[-1].query == {
        "state": "opened", "source_branch": "shipline/staging", "target_branch": "main"
    }  # fmt: skip


def test_a_superseded_merge_request_is_retitled_then_closed_with_a_note(gitlab):
    requests = client(gitlab)
    requests.open(DRAFT)

    updated = requests.update(1, title="Promote v2", body="sha256:def")
    closed = requests.close(1, comment="Superseded by !2")

    assert updated.title == "Promote v2" and gitlab.store.pulls[1].body == "sha256:def"
    assert closed.state is PullRequestState.CLOSED
    assert gitlab.store.pulls[1].comments == ["Superseded by !2"]
    assert gitlab.host.exchanges[-1].json() == {"state_event": "close"}


def test_a_merged_request_reads_merged_with_its_merge_commit_and_a_closed_one_closed(gitlab):
    requests = client(gitlab)
    requests.open(DRAFT)
    requests.open(DRAFT.model_copy(update={"head": "shipline/staging"}))
    gitlab.store.merge(1, sha="2" * 40)
    gitlab.store.close(2)

    merged, rejected = requests.get(1), requests.get(2)

    assert merged.state is PullRequestState.MERGED and merged.merge_commit_sha == "2" * 40
    assert rejected.state is PullRequestState.CLOSED and rejected.merge_commit_sha is None


def test_auto_merge_asks_gitlab_to_merge_when_the_pipeline_succeeds(gitlab):
    requests = client(gitlab)
    requests.open(DRAFT)

    assert requests.enable_auto_merge(1) is True
    assert gitlab.store.pulls[1].auto_merge
    sent = gitlab.host.exchanges[-1]
    assert (sent.method, sent.path) == (
        "PUT",
        "/api/v4/projects/acme%2Fgitops/merge_requests/1/merge",
    )
    assert sent.json() == {"merge_when_pipeline_succeeds": True, "auto_merge": True}


def test_a_second_merge_request_for_a_branch_is_refused_with_gitlabs_message(gitlab):
    requests = client(gitlab)
    requests.open(DRAFT)

    with pytest.raises(PermanentError, match="HTTP 409.*already exists for this source branch: !1"):
        requests.open(DRAFT)

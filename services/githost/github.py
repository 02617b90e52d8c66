"""GitHub's pull requests over its REST API (api.github.com, or GHES's /api/v3).

Auto-merge cannot be enabled over REST (only GraphQL's enablePullRequestAutoMerge), so
`enable_auto_merge` answers False: branch protection and a person merge instead.
"""

from __future__ import annotations

from typing import Any

from services.githost.http import HostApi
from services.githost.pull_requests import (
    PullRequest,
    PullRequestDraft,
    PullRequestState,
    unreadable,
)

MEDIA_TYPE = "application/vnd.github+json"
API_VERSION = "2022-11-28"


class GitHubPullRequests:
    def __init__(self, api: HostApi, repository: str) -> None:
        self._api = api
        self._owner = repository.split("/", 1)[0]
        self._repo = f"repos/{repository}"

    def find_open(self, head: str, base: str) -> PullRequest | None:
        params: dict[str, str | int] = {"state": "open", "head": f"{self._owner}:{head}"}
        params["base"] = base
        found = self._api.call("GET", f"{self._repo}/pulls", params=params)
        return _pull_request(found[0]) if found else None

    def open(self, draft: PullRequestDraft) -> PullRequest:
        body = {"title": draft.title, "body": draft.body, "head": draft.head, "base": draft.base}
        created = _pull_request(self._api.call("POST", f"{self._repo}/pulls", json_body=body))
        if draft.labels:  # GitHub creates a label the repository lacks
            labels = {"labels": list(draft.labels)}
            path = f"{self._repo}/issues/{created.number}/labels"
            self._api.call("POST", path, json_body=labels)
        return created

    def update(self, number: int, *, title: str, body: str) -> PullRequest:
        changes = {"title": title, "body": body}
        return self._patch(number, changes)

    def close(self, number: int, comment: str | None = None) -> PullRequest:
        if comment:
            path = f"{self._repo}/issues/{number}/comments"
            self._api.call("POST", path, json_body={"body": comment})
        return self._patch(number, {"state": "closed"})

    def get(self, number: int) -> PullRequest:
        return _pull_request(self._api.call("GET", f"{self._repo}/pulls/{number}"))

    def enable_auto_merge(self, number: int) -> bool:
        return False  # GraphQL only on GitHub

    def _patch(self, number: int, changes: dict[str, Any]) -> PullRequest:
        path = f"{self._repo}/pulls/{number}"
        return _pull_request(self._api.call("PATCH", path, json_body=changes))


def _pull_request(answer: dict[str, Any]) -> PullRequest:
    try:
        return _read(answer)
    except (KeyError, TypeError, ValueError) as exc:  # pydantic's ValidationError too
        raise unreadable("GitHub", exc) from None


def _read(answer: dict[str, Any]) -> PullRequest:
    # pull-request-simple (the list) has merged_at but no `merged`; pull-request has both
    merged = answer.get("merged_at") is not None
    state = PullRequestState.OPEN if answer["state"] == "open" else PullRequestState.CLOSED
    return PullRequest(
        number=answer["number"],
        url=answer["html_url"],
        state=PullRequestState.MERGED if merged else state,
        title=answer["title"],
        head=answer["head"]["ref"],
        base=answer["base"]["ref"],
        merge_commit_sha=answer.get("merge_commit_sha") if merged else None,
    )

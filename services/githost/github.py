"""GitHub's pull requests over its REST API (api.github.com, or GHES's /api/v3).

Auto-merge cannot be enabled over REST (only GraphQL's enablePullRequestAutoMerge), so
`enable_auto_merge` answers False: branch protection and a person merge instead.
"""

from __future__ import annotations

from services.githost.http import HostApi
from services.githost.pull_requests import (
    PullRequest,
    PullRequestDraft,
)
from services.githost.repo_pulls import PAGE_SIZE, RepoPullRequests

MEDIA_TYPE = "application/vnd.github+json"
API_VERSION = "2022-11-28"


class GitHubPullRequests(RepoPullRequests):
    HOST = "GitHub"

    def __init__(self, api: HostApi, repository: str) -> None:
        super().__init__(api, repository)
        self._owner = repository.split("/", 1)[0]

    def find_open(self, head: str, base: str) -> PullRequest | None:
        params: dict[str, str | int] = {"state": "open", "head": f"{self._owner}:{head}"}
        params["base"] = base
        found = self._api.call("GET", f"{self._repo}/pulls", params=params)
        return self._pull_request(found[0]) if found else None

    def _page(self, base: str, page: int) -> dict[str, str | int]:
        return {"state": "open", "base": base, "per_page": PAGE_SIZE, "page": page}

    def open(self, draft: PullRequestDraft) -> PullRequest:
        body = {"title": draft.title, "body": draft.body, "head": draft.head, "base": draft.base}
        created = self._pull_request(self._api.call("POST", f"{self._repo}/pulls", json_body=body))
        if draft.labels:  # GitHub creates a label the repository lacks
            labels = {"labels": list(draft.labels)}
            path = f"{self._repo}/issues/{created.number}/labels"
            self._api.call("POST", path, json_body=labels)
        return created

    def enable_auto_merge(self, number: int) -> bool:
        return False  # GraphQL only on GitHub

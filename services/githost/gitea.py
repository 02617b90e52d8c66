"""Gitea's (and Forgejo's) pull requests over its REST API (v1: https://HOST/api/v1).

Labels go by id on Gitea: names are looked up, and created when missing. Auto-merge is the
merge endpoint with `merge_when_checks_succeed` (Gitea 1.17+).
"""

from __future__ import annotations

from typing import Any

from services.githost.pull_requests import (
    PullRequest,
    PullRequestDraft,
)
from services.githost.repo_pulls import RepoPullRequests

PAGE_SIZE = 50
MAX_PAGES = 20  # 1,000 open pull requests looked through at most
NEW_LABEL_COLOR = "#0075ca"


class GiteaPullRequests(RepoPullRequests):
    HOST = "Gitea"

    def find_open(self, head: str, base: str) -> PullRequest | None:
        for page in range(1, MAX_PAGES + 1):
            params: dict[str, str | int] = {"state": "open", "page": page, "limit": PAGE_SIZE}
            found = self._api.call("GET", f"{self._repo}/pulls", params=params)
            for answer in found or []:
                if answer["head"]["ref"] == head and answer["base"]["ref"] == base:
                    return self._pull_request(answer)
            if len(found or []) < PAGE_SIZE:
                return None
        return None

    def _page(self, base: str, page: int) -> dict[str, str | int]:
        return {"state": "open", "page": page, "limit": PAGE_SIZE}  # no base filter on Gitea

    def open(self, draft: PullRequestDraft) -> PullRequest:
        body: dict[str, Any] = {
            "title": draft.title,
            "body": draft.body,
            "head": draft.head,
            "base": draft.base,
        }
        if draft.labels:
            body["labels"] = self._label_ids(draft.labels)
        return self._pull_request(self._api.call("POST", f"{self._repo}/pulls", json_body=body))

    def enable_auto_merge(self, number: int) -> bool:
        options = {"Do": "merge", "merge_when_checks_succeed": True}
        self._api.call("POST", f"{self._repo}/pulls/{number}/merge", json_body=options)
        return True

    def _label_ids(self, names: tuple[str, ...]) -> list[int]:
        params: dict[str, str | int] = {"limit": PAGE_SIZE}
        known = {label["name"]: label["id"] for label in self._labels(params)}
        for name in names:
            if name not in known:
                label = {"name": name, "color": NEW_LABEL_COLOR}
                known[name] = self._api.call("POST", f"{self._repo}/labels", json_body=label)["id"]
        return [known[name] for name in names]

    def _labels(self, params: dict[str, str | int]) -> list[dict[str, Any]]:
        labels: list[dict[str, Any]] = []
        for page in range(1, MAX_PAGES + 1):
            found = self._api.call("GET", f"{self._repo}/labels", params={**params, "page": page})
            labels.extend(found or [])
            if len(found or []) < PAGE_SIZE:
                break
        return labels

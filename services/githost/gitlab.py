"""GitLab's merge requests over its REST API (v4: https://HOST/api/v4).

The project is named by its full path (URL-encoded, as GitLab's `:id` accepts). Auto-merge
is `merge_when_pipeline_succeeds` (GitLab before 17.11) and `auto_merge` (since), sent
together: GitLab ignores the one it does not know.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from services.githost.http import HostApi
from services.githost.pull_requests import (
    MAX_LISTED,
    PullRequest,
    PullRequestDraft,
    PullRequestState,
    unreadable,
)

PAGE_SIZE = 50
_STATES = {"opened": PullRequestState.OPEN, "locked": PullRequestState.OPEN}


class GitLabMergeRequests:
    def __init__(self, api: HostApi, project_path: str) -> None:
        self._api = api
        self._project = f"projects/{quote(project_path, safe='')}"

    def find_open(self, head: str, base: str) -> PullRequest | None:
        params: dict[str, str | int] = {"state": "opened", "source_branch": head}
        params["target_branch"] = base
        found = self._api.call("GET", f"{self._project}/merge_requests", params=params)
        return _merge_request(found[0]) if found else None

    def list_open(self, base: str, head_prefix: str) -> list[PullRequest]:
        found: list[PullRequest] = []
        for page in range(1, MAX_LISTED // PAGE_SIZE + 1):
            params: dict[str, str | int] = {"state": "opened", "target_branch": base}
            params.update(per_page=PAGE_SIZE, page=page)
            answers = self._api.call("GET", f"{self._project}/merge_requests", params=params)
            found += [
                pull
                for pull in map(_merge_request, answers or [])
                if pull.base == base and pull.head.startswith(head_prefix)
            ]
            if len(answers or []) < PAGE_SIZE:
                break
        return found

    def open(self, draft: PullRequestDraft) -> PullRequest:
        body: dict[str, Any] = {
            "source_branch": draft.head,
            "target_branch": draft.base,
            "title": draft.title,
            "description": draft.body,
        }
        if draft.labels:  # GitLab creates a label the project lacks
            body["labels"] = ",".join(draft.labels)
        answer = self._api.call("POST", f"{self._project}/merge_requests", json_body=body)
        return _merge_request(answer)

    def update(self, number: int, *, title: str, body: str) -> PullRequest:
        return self._put(number, {"title": title, "description": body})

    def close(self, number: int, comment: str | None = None) -> PullRequest:
        if comment:
            path = f"{self._project}/merge_requests/{number}/notes"
            self._api.call("POST", path, json_body={"body": comment})
        return self._put(number, {"state_event": "close"})

    def get(self, number: int) -> PullRequest:
        path = f"{self._project}/merge_requests/{number}"
        return _merge_request(self._api.call("GET", path))

    def enable_auto_merge(self, number: int) -> bool:
        path = f"{self._project}/merge_requests/{number}/merge"
        options = {"merge_when_pipeline_succeeds": True, "auto_merge": True}
        self._api.call("PUT", path, json_body=options)
        return True

    def _put(self, number: int, changes: dict[str, Any]) -> PullRequest:
        path = f"{self._project}/merge_requests/{number}"
        return _merge_request(self._api.call("PUT", path, json_body=changes))


def _merge_request(answer: dict[str, Any]) -> PullRequest:
    try:
        return _read(answer)
    except (KeyError, TypeError, ValueError) as exc:  # pydantic's ValidationError too
        raise unreadable("GitLab", exc) from None


def _read(answer: dict[str, Any]) -> PullRequest:
    state = PullRequestState.MERGED if answer["state"] == "merged" else None
    state = state or _STATES.get(answer["state"], PullRequestState.CLOSED)
    # a fast-forward merge has no merge commit: the head itself lands (`sha`)
    merged_as = answer.get("merge_commit_sha") or answer.get("squash_commit_sha") or answer["sha"]
    return PullRequest(
        number=answer["iid"],
        url=answer["web_url"],
        state=state,
        title=answer["title"],
        head=answer["source_branch"],
        base=answer["target_branch"],
        merge_commit_sha=merged_as if state is PullRequestState.MERGED else None,
        head_sha=answer.get("sha"),
        same_repository=_same_project(answer),
    )


def _same_project(answer: dict[str, Any]) -> bool | None:
    source, target = answer.get("source_project_id"), answer.get("target_project_id")
    return None if source is None or target is None else bool(source == target)

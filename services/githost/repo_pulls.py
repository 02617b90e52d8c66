"""What GitHub's and Gitea's pull-request APIs share: Gitea follows GitHub's REST shape
(`repos/{owner}/{repo}/pulls`, a PATCH to retitle or close, comments on the issue of the same
number, `merged`/`merged_at`, `head.ref`, `merge_commit_sha`). Each host's module adds what
differs: finding the open request of a branch, labels, auto-merge."""

from __future__ import annotations

from typing import Any

from services.githost.http import HostApi
from services.githost.pull_requests import MAX_LISTED, PullRequest, PullRequestState, unreadable

PAGE_SIZE = 50


class RepoPullRequests:
    HOST = ""  # named in an unreadable answer's error

    def __init__(self, api: HostApi, repository: str) -> None:
        self._api = api
        self._repo = f"repos/{repository}"

    def update(self, number: int, *, title: str, body: str) -> PullRequest:
        return self._patch(number, {"title": title, "body": body})

    def close(self, number: int, comment: str | None = None) -> PullRequest:
        if comment:
            path = f"{self._repo}/issues/{number}/comments"
            self._api.call("POST", path, json_body={"body": comment})
        return self._patch(number, {"state": "closed"})

    def get(self, number: int) -> PullRequest:
        return self._pull_request(self._api.call("GET", f"{self._repo}/pulls/{number}"))

    def list_open(self, base: str, head_prefix: str) -> list[PullRequest]:
        found: list[PullRequest] = []
        for page in range(1, MAX_LISTED // PAGE_SIZE + 1):
            answers = self._api.call("GET", f"{self._repo}/pulls", params=self._page(base, page))
            for answer in answers or []:
                pull = self._pull_request(answer)
                if pull.base == base and pull.head.startswith(head_prefix):
                    found.append(pull)
            if len(answers or []) < PAGE_SIZE:
                break
        return found

    def _page(self, base: str, page: int) -> dict[str, str | int]:
        """The query of one page of open pull requests into `base` (as the host names it)."""
        raise NotImplementedError

    def _patch(self, number: int, changes: dict[str, Any]) -> PullRequest:
        path = f"{self._repo}/pulls/{number}"
        return self._pull_request(self._api.call("PATCH", path, json_body=changes))

    def _pull_request(self, answer: dict[str, Any]) -> PullRequest:
        try:
            return _read(answer)
        except (KeyError, TypeError, ValueError) as exc:  # pydantic's ValidationError too
            raise unreadable(self.HOST, exc) from None


def _read(answer: dict[str, Any]) -> PullRequest:
    # GitHub's pull-request-simple (its lists) has merged_at but no `merged`
    merged = bool(answer.get("merged")) or answer.get("merged_at") is not None
    state = PullRequestState.OPEN if answer["state"] == "open" else PullRequestState.CLOSED
    return PullRequest(
        number=answer["number"],
        url=answer["html_url"],
        state=PullRequestState.MERGED if merged else state,
        title=answer["title"],
        head=answer["head"]["ref"],
        base=answer["base"]["ref"],
        merge_commit_sha=answer.get("merge_commit_sha") if merged else None,
        head_sha=answer["head"].get("sha"),
        same_repository=_same_repository(answer["head"], answer["base"]),
    )


def _same_repository(head: dict[str, Any], base: dict[str, Any]) -> bool | None:
    """GitHub names each side's repository (`repo.full_name`; a deleted fork's is null),
    Gitea its id too (`repo_id`)."""
    if head.get("repo_id") is not None and base.get("repo_id") is not None:
        return bool(head["repo_id"] == base["repo_id"])
    head_repo, base_repo = head.get("repo"), base.get("repo")
    if not isinstance(base_repo, dict) or "full_name" not in base_repo:
        return None
    return isinstance(head_repo, dict) and head_repo.get("full_name") == base_repo["full_name"]

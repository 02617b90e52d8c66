"""GitLab's merge requests (REST v4) on loopback.

GitLab publishes its OpenAPI description (doc/api/openapi/openapi_v2.yaml) only in its
source repository: no PyPI, npm or Debian package carries it, so these shapes follow
GitLab's REST documentation (merge requests, notes) and are not checked against it.
"""

from __future__ import annotations

import re
from typing import Any

from tests.githost.fake_code_scanning import CommitStatuses
from tests.githost.fake_releases import GitLabReleases
from tests.githost.loopback import PROJECT, LoopbackHost, Reply
from tests.githost.pull_store import PullStore, StoredPull

MR = PROJECT + r"/merge_requests/(?P<iid>\d+)"


class FakeGitLab:
    def __init__(self) -> None:
        self.store = PullStore()
        self.statuses = CommitStatuses("gitlab")
        self.releases = GitLabReleases()
        self.host = LoopbackHost(
            [
                ("GET", PROJECT + r"/merge_requests", self._list),
                ("POST", PROJECT + r"/merge_requests", self._create),
                ("GET", MR, self._get),
                ("PUT", MR, self._update),
                ("POST", MR + r"/notes", self._note),
                ("PUT", MR + r"/merge", self._merge),
                *self.releases.routes(),
                *self.statuses.routes(),
            ],
            prefix="/api/v4",
        )

    @property
    def api_url(self) -> str:
        return self.host.url + "/api/v4"

    def _list(self, match: re.Match[str], query: dict[str, str], _: Any) -> Reply:
        state = {"opened": "open"}.get(query.get("state", "all"), query.get("state"))
        found = [
            self._answer(pull, match)
            for pull in self.store.pulls.values()
            if state in ("all", pull.state)
            and query.get("source_branch", pull.head) == pull.head
            and query.get("target_branch", pull.base) == pull.base
        ]
        return Reply(200, found)

    def _create(self, match: re.Match[str], _: dict[str, str], body: Any) -> Reply:
        for pull in self.store.open_pulls():
            if pull.head == body["source_branch"] and pull.base == body["target_branch"]:
                message = "Another open merge request already exists for this source branch: "
                message += f"!{pull.number}"
                return Reply(409, {"message": [message]})
        pull = self.store.add(
            body["title"], body.get("description", ""), body["source_branch"], body["target_branch"]
        )
        pull.labels = [name for name in body.get("labels", "").split(",") if name]
        return Reply(201, self._answer(pull, match))

    def _get(self, match: re.Match[str], _: dict[str, str], __: Any) -> Reply:
        return Reply(200, self._answer(self.store.pulls[int(match["iid"])], match))

    def _update(self, match: re.Match[str], _: dict[str, str], body: Any) -> Reply:
        pull = self.store.pulls[int(match["iid"])]
        pull.title = body.get("title", pull.title)
        pull.body = body.get("description", pull.body)
        if body.get("state_event") == "close":
            pull.state = "closed"
        return Reply(200, self._answer(pull, match))

    def _note(self, match: re.Match[str], _: dict[str, str], body: Any) -> Reply:
        self.store.pulls[int(match["iid"])].comments.append(body["body"])
        return Reply(201, {"id": 1, "body": body["body"], "noteable_type": "MergeRequest"})

    def _merge(self, match: re.Match[str], _: dict[str, str], body: Any) -> Reply:
        pull = self.store.pulls[int(match["iid"])]
        if pull.state != "open":
            return Reply(405, {"message": "405 Method Not Allowed"})
        pull.auto_merge = bool(body.get("merge_when_pipeline_succeeds") or body.get("auto_merge"))
        return Reply(200, self._answer(pull, match))

    def _answer(self, pull: StoredPull, match: re.Match[str]) -> dict[str, Any]:
        state = "merged" if pull.merged else {"open": "opened"}.get(pull.state, pull.state)
        path = match["project"].replace("%2F", "/")
        return {
            "id": 1000 + pull.number,
            "iid": pull.number,
            "project_id": 7,
            "title": pull.title,
            "description": pull.body,
            "state": state,
            "source_branch": pull.head,
            "target_branch": pull.base,
            "labels": pull.labels,
            "draft": False,
            "sha": pull.head_sha or "a" * 40,
            "source_project_id": 8 if pull.fork else 7,
            "target_project_id": 7,
            "merge_commit_sha": pull.merge_sha,
            "squash_commit_sha": None,
            "merge_when_pipeline_succeeds": pull.auto_merge,
            "web_url": f"https://gitlab.example/{path}/-/merge_requests/{pull.number}",
        }

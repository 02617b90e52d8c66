"""Gitea's pull requests (REST v1) on loopback.

Gitea publishes its API description (swagger.v1.json) from a running server and its
source repository only: no PyPI, npm or Debian package carries it, so these shapes follow
Gitea's API documentation and are not checked against it.
"""

from __future__ import annotations

import re
from typing import Any

from tests.githost.fake_code_scanning import CommitStatuses
from tests.githost.fake_releases import GiteaReleases
from tests.githost.loopback import REPO, LoopbackHost, Reply
from tests.githost.pull_store import PullStore, StoredPull

PULL = REPO + r"/pulls/(?P<number>\d+)"


class FakeGitea:
    def __init__(self) -> None:
        self.store = PullStore()
        self.statuses = CommitStatuses("gitea")
        self.releases = GiteaReleases()
        self.labels: dict[str, int] = {"shipline": 11}  # the repository's labels: name → id
        self.host = LoopbackHost(
            [
                ("GET", REPO + r"/pulls", self._list),
                ("POST", REPO + r"/pulls", self._create),
                ("GET", PULL, self._get),
                ("PATCH", PULL, self._update),
                ("POST", PULL + r"/merge", self._merge),
                ("GET", REPO + r"/labels", self._list_labels),
                ("POST", REPO + r"/labels", self._create_label),
                ("POST", REPO + r"/issues/(?P<number>\d+)/comments", self._comment),
                *self.releases.routes(),
                *self.statuses.routes(),
            ],
            prefix="/api/v1",
        )

    @property
    def api_url(self) -> str:
        return self.host.url + "/api/v1"

    def _list(self, match: re.Match[str], query: dict[str, str], _: Any) -> Reply:
        pulls = [p for p in self.store.pulls.values() if query.get("state") in ("all", p.state)]
        limit, page = int(query.get("limit", "30")), int(query.get("page", "1"))
        return Reply(200, [self._answer(p, match) for p in pulls[(page - 1) * limit :][:limit]])

    def _create(self, match: re.Match[str], _: dict[str, str], body: Any) -> Reply:
        for pull in self.store.open_pulls():
            if (pull.head, pull.base) == (body["head"], body["base"]):
                return Reply(409, {"message": "pull request already exists for these targets"})
        pull = self.store.add(body["title"], body.get("body", ""), body["head"], body["base"])
        names = {label_id: name for name, label_id in self.labels.items()}
        pull.labels = [names[label_id] for label_id in body.get("labels", [])]
        return Reply(201, self._answer(pull, match))

    def _get(self, match: re.Match[str], _: dict[str, str], __: Any) -> Reply:
        return Reply(200, self._answer(self.store.pulls[int(match["number"])], match))

    def _update(self, match: re.Match[str], _: dict[str, str], body: Any) -> Reply:
        pull = self.store.pulls[int(match["number"])]
        pull.title = body.get("title", pull.title)
        pull.body = body.get("body", pull.body)
        pull.state = body.get("state", pull.state)
        return Reply(201, self._answer(pull, match))  # Gitea answers an edit with 201

    def _merge(self, match: re.Match[str], _: dict[str, str], body: Any) -> Reply:
        pull = self.store.pulls[int(match["number"])]
        if body.get("Do") not in ("merge", "rebase", "rebase-merge", "squash"):
            return Reply(422, {"message": "[Do]: Required"})
        pull.auto_merge = bool(body.get("merge_when_checks_succeed"))
        return Reply(200)

    def _list_labels(self, _: re.Match[str], query: dict[str, str], __: Any) -> Reply:
        labels = [{"id": i, "name": n, "color": "0075ca"} for n, i in self.labels.items()]
        limit, page = int(query.get("limit", "30")), int(query.get("page", "1"))
        return Reply(200, labels[(page - 1) * limit :][:limit])

    def _create_label(self, _: re.Match[str], __: dict[str, str], body: Any) -> Reply:
        self.labels[body["name"]] = label_id = 11 + len(self.labels)
        return Reply(201, {"id": label_id, "name": body["name"], "color": body["color"]})

    def _comment(self, match: re.Match[str], _: dict[str, str], body: Any) -> Reply:
        self.store.pulls[int(match["number"])].comments.append(body["body"])
        return Reply(201, {"id": 1, "body": body["body"]})

    def _answer(self, pull: StoredPull, match: re.Match[str]) -> dict[str, Any]:
        repo = f"{match['owner']}/{match['repo']}"
        return {
            "id": 500 + pull.number,
            "number": pull.number,
            "title": pull.title,
            "body": pull.body,
            "state": pull.state,
            "html_url": f"https://gitea.example/{repo}/pulls/{pull.number}",
            "head": {
                "ref": pull.head,
                "label": pull.head,
                "sha": pull.head_sha or "b" * 40,
                "repo_id": 9 if pull.fork else 3,
            },
            "base": {"ref": pull.base, "label": pull.base, "sha": "c" * 40, "repo_id": 3},
            "merged": pull.merged,
            "merge_commit_sha": pull.merge_sha,
            "labels": [{"id": self.labels[name], "name": name} for name in pull.labels],
        }

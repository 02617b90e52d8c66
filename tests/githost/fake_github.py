"""GitHub's pull requests on loopback, its answers made from the published description."""

from __future__ import annotations

import re
from typing import Any

from tests.githost.described import Description
from tests.githost.fake_code_scanning import GitHubCodeScanning
from tests.githost.fake_releases import GitHubReleases
from tests.githost.loopback import REPO, LoopbackHost, Reply
from tests.githost.pull_store import PullStore, StoredPull


class FakeGitHub:
    def __init__(self, description: Description) -> None:
        self.description = description
        self.store = PullStore()
        self.code_scanning = GitHubCodeScanning(description)
        self.releases = GitHubReleases(description)
        self.host = LoopbackHost(
            [
                ("GET", REPO + r"/pulls", self._list),
                ("POST", REPO + r"/pulls", self._create),
                ("GET", REPO + r"/pulls/(?P<number>\d+)", self._get),
                ("PATCH", REPO + r"/pulls/(?P<number>\d+)", self._update),
                ("POST", REPO + r"/issues/(?P<number>\d+)/labels", self._add_labels),
                ("POST", REPO + r"/issues/(?P<number>\d+)/comments", self._comment),
                *self.releases.routes(),
                *self.code_scanning.routes(),
            ]
        )

    def start(self) -> FakeGitHub:
        self.host.start()
        self.host.check = self.description.checker(self.host.url)
        return self

    def _list(self, match: re.Match[str], query: dict[str, str], _: Any) -> Reply:
        owner, head = query.get("head", ":").split(":", 1)
        found = [
            self._answer("pull-request-simple", pull, match)
            for pull in self.store.pulls.values()
            if query.get("state", "open") in ("all", pull.state)
            and (not head or (owner == match["owner"] and pull.head == head))
            and query.get("base", pull.base) == pull.base
        ]
        return Reply(200, found)

    def _create(self, match: re.Match[str], _: dict[str, str], body: Any) -> Reply:
        owner = match["owner"]
        if any(p.head == body["head"] for p in self.store.open_pulls()):
            error = self.description.instance("validation-error")
            error["message"] = "Validation Failed"
            error["errors"] = [
                {
                    "resource": "PullRequest",
                    "code": "custom",
                    "message": f"A pull request already exists for {owner}:{body['head']}.",
                }
            ]
            return Reply(422, error)
        pull = self.store.add(body["title"], body.get("body", ""), body["head"], body["base"])
        url = f"{self.host.url}/repos/{match['owner']}/{match['repo']}/pulls/{pull.number}"
        return Reply(201, self._answer("pull-request", pull, match), {"Location": url})

    def _get(self, match: re.Match[str], _: dict[str, str], __: Any) -> Reply:
        pull = self.store.pulls[int(match["number"])]
        return Reply(200, self._answer("pull-request", pull, match))

    def _update(self, match: re.Match[str], _: dict[str, str], body: Any) -> Reply:
        pull = self.store.pulls[int(match["number"])]
        pull.title = body.get("title", pull.title)
        pull.body = body.get("body", pull.body)
        pull.state = body.get("state", pull.state)
        return Reply(200, self._answer("pull-request", pull, match))

    def _add_labels(self, match: re.Match[str], _: dict[str, str], body: Any) -> Reply:
        pull = self.store.pulls[int(match["number"])]
        pull.labels.extend(name for name in body["labels"] if name not in pull.labels)
        labels = []
        for index, name in enumerate(pull.labels, 1):
            label = self.description.instance("label")
            label.update(id=index, name=name)
            labels.append(label)
        return Reply(200, labels)

    def _comment(self, match: re.Match[str], _: dict[str, str], body: Any) -> Reply:
        self.store.pulls[int(match["number"])].comments.append(body["body"])
        comment = self.description.instance("issue-comment")
        comment["body"] = body["body"]
        return Reply(201, comment)

    def _answer(self, schema: str, pull: StoredPull, match: re.Match[str]) -> dict[str, Any]:
        answer = self.description.instance(schema)
        answer.update(
            number=pull.number,
            state=pull.state,
            title=pull.title,
            body=pull.body,
            html_url=f"https://github.example/{match['owner']}/{match['repo']}/pull/{pull.number}",
            merged_at="2026-01-02T03:04:05Z" if pull.merged else None,
            merge_commit_sha=pull.merge_sha,
        )
        if "merged" in answer:  # pull-request has it; pull-request-simple does not
            answer["merged"] = pull.merged
        answer["head"].update(ref=pull.head, label=f"{match['owner']}:{pull.head}")
        answer["base"].update(ref=pull.base, label=f"{match['owner']}:{pull.base}")
        answer["head"]["sha"] = pull.head_sha or answer["head"]["sha"]
        repository = f"{match['owner']}/{match['repo']}"
        for side, name in (("head", pull.fork or repository), ("base", repository)):
            if isinstance(answer[side].get("repo"), dict):
                answer[side]["repo"]["full_name"] = name
        return answer

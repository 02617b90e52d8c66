"""The Releases of the loopback hosts: routes each fake adds to its own, over one store.

GitHub's answers are made from its published description (like its pull requests) and
checked against it. GitLab's and Gitea's follow the hosts' REST documentation (GitLab:
"Releases API", v4; Gitea: the v1 API's repository releases), as their pull requests do:
neither publishes a description in any package.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from tests.githost.described import Description
from tests.githost.loopback import Handler, Reply

REPO = r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)"
PROJECT = r"/projects/(?P<project>[^/]+)"
Routes = list[tuple[str, str, Handler]]


@dataclass
class StoredRelease:
    id: int
    tag: str
    name: str
    body: str
    edits: int = 0


@dataclass
class ReleaseStore:
    """The host's Releases by tag; `edits` counts a Release's updates."""

    releases: dict[str, StoredRelease] = field(default_factory=dict)

    def add(self, tag: str, name: str, body: str) -> StoredRelease:
        release = StoredRelease(100 + len(self.releases), tag, name, body)
        self.releases[tag] = release
        return release

    def by_id(self, release_id: str) -> StoredRelease:
        return next(r for r in self.releases.values() if r.id == int(release_id))

    def edit(self, release: StoredRelease, name: str | None, body: str | None) -> None:
        release.name = release.name if name is None else name
        release.body = release.body if body is None else body
        release.edits += 1


class GitHubReleases:
    def __init__(self, description: Description) -> None:
        self.description = description
        self.store = ReleaseStore()

    def routes(self) -> Routes:
        return [
            ("GET", REPO + r"/releases/tags/(?P<tag>[^/]+)", self._get),
            ("POST", REPO + r"/releases", self._create),
            ("PATCH", REPO + r"/releases/(?P<id>\d+)", self._update),
        ]

    def _get(self, match: re.Match[str], _: dict[str, str], __: Any) -> Reply:
        release = self.store.releases.get(unquote(match["tag"]))
        if release is None:
            error = self._instance("basic-error")
            error.update(message="Not Found", documentation_url="https://docs.github.com/rest")
            return Reply(404, error)
        return Reply(200, self._answer(release, match))

    def _create(self, match: re.Match[str], _: dict[str, str], body: Any) -> Reply:
        if body["tag_name"] in self.store.releases:
            error = self._instance("validation-error")
            error["message"] = "Validation Failed"
            duplicate = {"resource": "Release", "code": "already_exists", "field": "tag_name"}
            error["errors"] = [duplicate]
            return Reply(422, error)
        release = self.store.add(body["tag_name"], body.get("name", ""), body.get("body", ""))
        return Reply(201, self._answer(release, match))

    def _update(self, match: re.Match[str], _: dict[str, str], body: Any) -> Reply:
        release = self.store.by_id(match["id"])
        self.store.edit(release, body.get("name"), body.get("body"))
        return Reply(200, self._answer(release, match))

    def _instance(self, schema: str) -> Any:
        return self.description.minimal_instance(self.description.schema(schema))

    def _answer(self, release: StoredRelease, match: re.Match[str]) -> dict[str, Any]:
        answer = self._instance("release")
        repo = f"{match['owner']}/{match['repo']}"
        answer.update(
            id=release.id,
            tag_name=release.tag,
            name=release.name,
            body=release.body,
            html_url=f"https://github.example/{repo}/releases/tag/{release.tag}",
        )
        return answer


class GiteaReleases:
    """Gitea's repository releases (GET releases/tags/{tag}, POST releases, PATCH releases/{id});
    a second release of a tag is refused with 409."""

    def __init__(self) -> None:
        self.store = ReleaseStore()

    def routes(self) -> Routes:
        return [
            ("GET", REPO + r"/releases/tags/(?P<tag>[^/]+)", self._get),
            ("POST", REPO + r"/releases", self._create),
            ("PATCH", REPO + r"/releases/(?P<id>\d+)", self._update),
        ]

    def _get(self, match: re.Match[str], _: dict[str, str], __: Any) -> Reply:
        release = self.store.releases.get(unquote(match["tag"]))
        if release is None:
            return Reply(404, {"message": "The target couldn't be found.", "errors": []})
        return Reply(200, _gitea_answer(release, match))

    def _create(self, match: re.Match[str], _: dict[str, str], body: Any) -> Reply:
        if body["tag_name"] in self.store.releases:
            return Reply(409, {"message": "Release has already been created for this tag"})
        release = self.store.add(body["tag_name"], body.get("name", ""), body.get("body", ""))
        return Reply(201, _gitea_answer(release, match))

    def _update(self, match: re.Match[str], _: dict[str, str], body: Any) -> Reply:
        release = self.store.by_id(match["id"])
        self.store.edit(release, body.get("name"), body.get("body"))
        return Reply(200, _gitea_answer(release, match))


def _gitea_answer(release: StoredRelease, match: re.Match[str]) -> dict[str, Any]:
    repo = f"{match['owner']}/{match['repo']}"
    return {
        "id": release.id,
        "tag_name": release.tag,
        "target_commitish": "main",
        "name": release.name,
        "body": release.body,
        "draft": False,
        "prerelease": False,
        "url": f"https://gitea.example/api/v1/repos/{repo}/releases/{release.id}",
        "html_url": f"https://gitea.example/{repo}/releases/tag/{release.tag}",
        "assets": [],
    }


class GitLabReleases:
    """GitLab's project releases, named by their tag (GET/PUT releases/:tag_name, POST
    releases); a second release of a tag is refused with 409."""

    def __init__(self) -> None:
        self.store = ReleaseStore()

    def routes(self) -> Routes:
        return [
            ("GET", PROJECT + r"/releases/(?P<tag>[^/]+)", self._get),
            ("POST", PROJECT + r"/releases", self._create),
            ("PUT", PROJECT + r"/releases/(?P<tag>[^/]+)", self._update),
        ]

    def _get(self, match: re.Match[str], _: dict[str, str], __: Any) -> Reply:
        release = self.store.releases.get(unquote(match["tag"]))
        if release is None:
            return Reply(404, {"message": "404 Not Found"})
        return Reply(200, _gitlab_answer(release, match))

    def _create(self, match: re.Match[str], _: dict[str, str], body: Any) -> Reply:
        if body["tag_name"] in self.store.releases:
            return Reply(409, {"message": "Release already exists"})
        name = body.get("name", body["tag_name"])
        release = self.store.add(body["tag_name"], name, body.get("description", ""))
        return Reply(201, _gitlab_answer(release, match))

    def _update(self, match: re.Match[str], _: dict[str, str], body: Any) -> Reply:
        release = self.store.releases.get(unquote(match["tag"]))
        if release is None:
            return Reply(404, {"message": "404 Not Found"})
        self.store.edit(release, body.get("name"), body.get("description"))
        return Reply(200, _gitlab_answer(release, match))


def _gitlab_answer(release: StoredRelease, match: re.Match[str]) -> dict[str, Any]:
    path = unquote(match["project"])
    page = f"https://gitlab.example/{path}/-/releases/{release.tag}"
    return {
        "tag_name": release.tag,
        "name": release.name,
        "description": release.body,
        "created_at": "2026-01-02T03:04:05.000Z",
        "released_at": "2026-01-02T03:04:05.000Z",
        "upcoming_release": False,
        "_links": {"self": page, "edit_url": f"{page}/edit"},
    }

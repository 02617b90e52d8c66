"""The Releases of the loopback hosts: routes each fake adds to its own, over one store.

GitHub's answers are made from its published description (like its pull requests) and
checked against it. GitLab's and Gitea's follow the hosts' REST documentation (GitLab:
"Releases API", v4; Gitea: the v1 API's repository releases), as their pull requests do:
neither publishes a description in any package.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from tests.githost.described import Description
from tests.githost.loopback import PROJECT, REPO, Handler, Reply

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

    def by_id(self, release_id: str) -> StoredRelease | None:
        return next((r for r in self.releases.values() if r.id == int(release_id)), None)

    def edit(self, release: StoredRelease, name: str | None, body: str | None) -> None:
        release.name = release.name if name is None else name
        release.body = release.body if body is None else body
        release.edits += 1


class HostReleases(ABC):
    """One host's Release routes over one store: a Release found by its tag, created once
    (a second of the same tag refused), edited after. Each host says how it answers and
    refuses; GitHub's and Gitea's paths are these, GitLab's its own."""

    text_field = "body"  # the field carrying a Release's text

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
            return self._not_found()
        return Reply(200, self._answer(release, match))

    def _create(self, match: re.Match[str], _: dict[str, str], body: Any) -> Reply:
        tag = body["tag_name"]
        if tag in self.store.releases:
            return self._duplicate()
        name = body.get("name", self._unnamed(tag))
        release = self.store.add(tag, name, body.get(self.text_field, ""))
        return Reply(201, self._answer(release, match))

    def _update(self, match: re.Match[str], _: dict[str, str], body: Any) -> Reply:
        release = self._edited(match)
        if release is None:
            return self._not_found()
        self.store.edit(release, body.get("name"), body.get(self.text_field))
        return Reply(200, self._answer(release, match))

    def _edited(self, match: re.Match[str]) -> StoredRelease | None:
        return self.store.by_id(match["id"])

    def _unnamed(self, tag: str) -> str:
        """The name of a Release created without one."""
        return ""

    @abstractmethod
    def _not_found(self) -> Reply: ...

    @abstractmethod
    def _duplicate(self) -> Reply: ...

    @abstractmethod
    def _answer(self, release: StoredRelease, match: re.Match[str]) -> dict[str, Any]: ...


class GitHubReleases(HostReleases):
    def __init__(self, description: Description) -> None:
        super().__init__()
        self.description = description

    def _not_found(self) -> Reply:
        error = self.description.instance("basic-error")
        error.update(message="Not Found", documentation_url="https://docs.github.com/rest")
        return Reply(404, error)

    def _duplicate(self) -> Reply:
        error = self.description.instance("validation-error")
        error["message"] = "Validation Failed"
        duplicate = {"resource": "Release", "code": "already_exists", "field": "tag_name"}
        error["errors"] = [duplicate]
        return Reply(422, error)

    def _answer(self, release: StoredRelease, match: re.Match[str]) -> dict[str, Any]:
        answer = self.description.instance("release")
        repo = f"{match['owner']}/{match['repo']}"
        answer.update(
            id=release.id,
            tag_name=release.tag,
            name=release.name,
            body=release.body,
            html_url=f"https://github.example/{repo}/releases/tag/{release.tag}",
        )
        return answer


class GiteaReleases(HostReleases):
    """Gitea's repository releases (GET releases/tags/{tag}, POST releases, PATCH releases/{id});
    a second release of a tag is refused with 409."""

    def _not_found(self) -> Reply:
        return Reply(404, {"message": "The target couldn't be found.", "errors": []})

    def _duplicate(self) -> Reply:
        return Reply(409, {"message": "Release has already been created for this tag"})

    def _answer(self, release: StoredRelease, match: re.Match[str]) -> dict[str, Any]:
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


class GitLabReleases(HostReleases):
    """GitLab's project releases, named by their tag (GET/PUT releases/:tag_name, POST
    releases); a second release of a tag is refused with 409."""

    text_field = "description"

    def routes(self) -> Routes:
        return [
            ("GET", PROJECT + r"/releases/(?P<tag>[^/]+)", self._get),
            ("POST", PROJECT + r"/releases", self._create),
            ("PUT", PROJECT + r"/releases/(?P<tag>[^/]+)", self._update),
        ]

    def _edited(self, match: re.Match[str]) -> StoredRelease | None:
        return self.store.releases.get(unquote(match["tag"]))

    def _unnamed(self, tag: str) -> str:
        return tag

    def _not_found(self) -> Reply:
        return Reply(404, {"message": "404 Not Found"})

    def _duplicate(self) -> Reply:
        return Reply(409, {"message": "Release already exists"})

    def _answer(self, release: StoredRelease, match: re.Match[str]) -> dict[str, Any]:
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

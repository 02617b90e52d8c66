"""Releases on git hosts (GitHub, GitLab, Gitea) through their REST APIs: one per tag.

`publish` looks the tag's Release up first and updates it when there is one, so a
redelivered event or a second run of the same tag rewrites the Release instead of adding
another; a Release created meanwhile by someone else (the create refused as a duplicate)
is found again and updated. GitHub and Gitea share the shape (`repos/{owner}/{repo}/releases`,
`releases/tags/{tag}`, a PATCH of `releases/{id}`); GitLab names a Release by its tag
(`projects/:id/releases/:tag_name`, a PUT).
"""

from __future__ import annotations

from typing import Any, Protocol
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field

from services.common.errors import PermanentError
from services.common.repository_settings import GitHost
from services.githost.hosts import host_api
from services.githost.http import HostApi, NotFound

BODY_CHARS = 100_000  # GitHub refuses a body over 125,000 characters


class ReleaseDraft(BaseModel):
    """What the tag's Release says: its title and its Markdown body."""

    model_config = ConfigDict(frozen=True)

    tag: str = Field(min_length=1, max_length=255)
    name: str = Field(min_length=1, max_length=255)
    body: str = Field(default="", max_length=BODY_CHARS)


class HostRelease(BaseModel):
    """A Release as the host reports it; `created`: this publish made it (else updated it)."""

    model_config = ConfigDict(frozen=True)

    tag: str
    url: str  # the page people open
    created: bool


class Releases(Protocol):
    """The Releases of one repository on its git host.

    Raises TransientError (timeouts, 5xx, rate limits) or PermanentError (any other
    refusal, with the host's message); never one naming the token."""

    def publish(self, draft: ReleaseDraft) -> HostRelease:
        """Create the Release of `draft.tag`, or update the one the tag already has."""
        ...


class RepoReleases:
    """GitHub's and Gitea's Releases (Gitea follows GitHub's REST shape for them)."""

    def __init__(self, host: str, api: HostApi, repository: str) -> None:
        self._host, self._api = host, api
        self._releases = f"repos/{repository}/releases"

    def publish(self, draft: ReleaseDraft) -> HostRelease:
        existing = self._find(draft.tag)
        if existing is None:
            body = {"tag_name": draft.tag, "name": draft.name, "body": draft.body}
            try:
                return self._read(self._api.call("POST", self._releases, json_body=body), True)
            except PermanentError:  # 422 (GitHub) or 409 (Gitea): created since the lookup
                existing = self._find(draft.tag)
                if existing is None:
                    raise
        changes = {"name": draft.name, "body": draft.body}
        path = f"{self._releases}/{existing['id']}"
        return self._read(self._api.call("PATCH", path, json_body=changes), False)

    def _find(self, tag: str) -> dict[str, Any] | None:
        path = f"{self._releases}/tags/{quote(tag, safe='')}"
        try:
            found: dict[str, Any] = self._api.call("GET", path)
        except NotFound:
            return None
        return found

    def _read(self, answer: dict[str, Any], created: bool) -> HostRelease:
        try:
            return HostRelease(tag=answer["tag_name"], url=answer["html_url"], created=created)
        except (KeyError, TypeError, ValueError) as exc:
            raise unreadable(self._host, exc) from None


class GitLabReleases:
    def __init__(self, api: HostApi, project_path: str) -> None:
        self._api = api
        self._releases = f"projects/{quote(project_path, safe='')}/releases"

    def publish(self, draft: ReleaseDraft) -> HostRelease:
        path = f"{self._releases}/{quote(draft.tag, safe='')}"
        changes = {"name": draft.name, "description": draft.body}
        try:
            self._api.call("GET", path)
        except NotFound:
            body = {"tag_name": draft.tag, **changes}
            try:
                return _gitlab_release(self._api.call("POST", self._releases, json_body=body), True)
            except PermanentError as refused:  # 409: created since the lookup
                self._exists_or_raise(path, refused)
        return _gitlab_release(self._api.call("PUT", path, json_body=changes), False)

    def _exists_or_raise(self, path: str, refused: PermanentError) -> None:
        try:
            self._api.call("GET", path)
        except NotFound:
            raise refused from None


def releases_for(host: GitHost, repository: str) -> Releases:
    """`repository` is the settings entry's name: the host's project unless `host.project`."""
    project = host.project or repository
    api = host_api(host)
    if host.type == "gitlab":
        return GitLabReleases(api, project)
    return RepoReleases("GitHub" if host.type == "github" else "Gitea", api, project)


def _gitlab_release(answer: dict[str, Any], created: bool) -> HostRelease:
    try:
        return HostRelease(tag=answer["tag_name"], url=answer["_links"]["self"], created=created)
    except (KeyError, TypeError, ValueError) as exc:
        raise unreadable("GitLab", exc) from None


def unreadable(host: str, problem: Exception) -> PermanentError:
    """A host's answer that is no Release as its API describes one."""
    reason = f"{type(problem).__name__}: {problem}"
    return PermanentError(f"{host} answered a release Shipline cannot read: {reason}"[:300])

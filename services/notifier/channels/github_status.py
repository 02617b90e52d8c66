"""GitHub commit statuses on the source commit.

``POST {api_url}/repos/{owner}/{repo}/statuses/{sha}`` with a bearer token.

A run summary sets the ``context`` status (default ``shipline``) of the pushed commit; a
channel subscribed to ManifestCommitted or ScanFailed also sets ``<context>/<service>``.
Events without a source commit (a StageFailed, a run started by hand without one) are not
this channel's. ``api_url`` is ``https://<host>/api/v3`` on GitHub Enterprise Server.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass

from services.common.errors import PermanentError
from services.common.events import Envelope, ManifestCommitted, RunCompleted, ScanFailed
from services.common.run_records import scan_summary
from services.common.settings import GitHubStatusChannelSettings
from services.notifier.channels._format import clip
from services.notifier.channels._http import post
from services.notifier.channels.base import RoutedChannel
from services.notifier.routing import Route

# Run and service outcomes → GitHub's states; anything else (a new outcome) is "error".
STATES = {
    "succeeded": "success",
    "held": "success",
    "skipped": "success",
    "superseded": "success",
    "blocked": "failure",
    "failed": "error",
    "queued": "pending",
    "running": "pending",
}
DESCRIPTION_CHARS = 140
_REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_SHA = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True)
class CommitStatus:
    repository: str
    sha: str
    state: str
    context: str
    description: str
    target_url: str | None = None

    def json(self) -> dict[str, str]:
        data = {"state": self.state, "context": self.context, "description": self.description}
        if self.target_url:
            data["target_url"] = self.target_url
        return data


def commit_status(
    event: Envelope, context: str = "shipline", target_url_template: str | None = None
) -> CommitStatus | None:
    """The status an event sets, or None when it names no source commit. Pure."""
    match event:
        case RunCompleted(commit=sha, repository=repository) if sha and repository:
            state, description = _state(event.status), _describe_run(event)
        case ManifestCommitted(source=source):
            repository, sha, context = (
                source.repository,
                source.commit,
                f"{context}/{event.service}",
            )
            state, description = "success", f"deployed {event.new_image}"
        case ScanFailed(source=source):
            repository, sha, context = (
                source.repository,
                source.commit,
                f"{context}/{event.service}",
            )
            state, description = "failure", scan_summary("blocked", event.counts)
        case _:
            return None
    target_url = None
    if target_url_template:
        target_url = target_url_template.format(
            run_id=event.run_id, repository=repository, commit=sha
        )
    return CommitStatus(
        repository, sha, state, context, clip(description, DESCRIPTION_CHARS), target_url
    )


def _state(status: str) -> str:
    return STATES.get(status, "error")


def _describe_run(event: RunCompleted) -> str:
    """E.g. "succeeded: user-service; blocked: account-service"."""
    if not event.services:
        return f"{event.status}: no service changed"
    by_status: dict[str, list[str]] = defaultdict(list)
    for name in sorted(event.services):
        by_status[event.services[name].status].append(name)
    return "; ".join(f"{status}: {', '.join(names)}" for status, names in by_status.items())


class GitHubStatusChannel(RoutedChannel):
    def __init__(self, settings: GitHubStatusChannelSettings, index: int = 0) -> None:
        super().__init__(settings.channel_name(index), Route.of(settings))
        self._settings = settings

    def select(self, event: Envelope, environment: str | None = None) -> Envelope | None:
        chosen = super().select(event, environment)
        if chosen is None or commit_status(chosen) is None:
            return None
        return chosen

    def send(self, event: Envelope, environment: str | None = None) -> None:
        settings = self._settings
        status = commit_status(event, settings.context, settings.target_url_template)
        if status is None:
            return
        if not _REPOSITORY.match(status.repository) or not _SHA.match(status.sha):
            raise PermanentError(
                f"{self.name}: {status.repository}@{status.sha[:12]} is not a GitHub "
                "owner/repository and commit"
            )
        token = settings.token.get_secret_value()
        url = f"{settings.api_url.rstrip('/')}/repos/{status.repository}/statuses/{status.sha}"
        post(
            self.name,
            url,
            content=json.dumps(status.json()).encode(),
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
                "Content-Type": "application/json",
            },
            timeout=settings.timeout_seconds,
            secrets=[token],
        )

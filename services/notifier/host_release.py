"""A release run's Release on the repository's git host, once the run has completed.

`release_draft` (pure) says what the Release holds: the release notes the committer wrote,
then every service's image and digest. `HostReleases` publishes it through the repository's
`host:` (services/githost/releases.py): created the first time, updated by a redelivery or
a second run of the same tag. What came of it is recorded on the run (`host_release`: the
Release's page, or `failed: <the host's answer>`); a host failure never touches the deploy,
which is done by then.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from services.common.errors import PermanentError, TransientError
from services.common.events import RunCompleted
from services.common.logging import get_logger
from services.common.repository_settings import GitHost
from services.common.runs import RunStore
from services.common.settings import Settings
from services.githost.releases import BODY_CHARS, ReleaseDraft, Releases, releases_for

TRUNCATED = "\n\n… (cut short: the whole notes are in CHANGELOG and the run)"


def release_draft(summary: RunCompleted) -> ReleaseDraft | None:
    """The Release of a release run that deployed (None for any other run)."""
    if not summary.release or summary.status != "succeeded":
        return None
    lines = ["## Images", ""]
    for service, outcome in sorted(summary.services.items()):
        if outcome.status == "succeeded" and outcome.digest:
            lines.append(f"- **{service}**: `{outcome.image}@{outcome.digest}`")
        else:
            lines.append(f"- **{service}**: {outcome.status}, {outcome.reason or 'not deployed'}")
    images = "\n".join(lines)
    notes = summary.release_notes.strip()
    room = BODY_CHARS - len(images) - len(TRUNCATED) - len("\n\n\n")
    if len(notes) > room:
        notes = notes[:room] + TRUNCATED
    body = f"{notes}\n\n{images}\n" if notes else f"{images}\n"
    return ReleaseDraft(tag=summary.release, name=summary.release, body=body)


ReleasesFor = Callable[[GitHost, str], Releases]


@dataclass(frozen=True)
class HostReleases:
    settings: Settings
    runs: RunStore
    releases_for: ReleasesFor = releases_for

    def __call__(self, summary: RunCompleted) -> str | None:
        """Publish the run's Release where its repository has a `host:`; the host's
        permanent refusal is returned, a transient failure raised for the stage to retry."""
        draft = release_draft(summary)
        repository = self.settings.repository(summary.repository)
        if draft is None or repository is None or repository.host is None:
            return None
        log = get_logger().bind(release=draft.tag, host=repository.host.type)
        try:
            published = self.releases_for(repository.host, repository.name).publish(draft)
        except (TransientError, PermanentError) as exc:
            self.runs.keep_host_release(summary.run_id, f"failed: {exc}")
            log.error("the release on the git host failed", error=str(exc))
            if isinstance(exc, TransientError):
                raise
            return f"release {draft.tag} on the git host: {exc}"
        self.runs.keep_host_release(summary.run_id, published.url)
        log.info("release on the git host", url=published.url, created=published.created)
        return None

"""What a promotion's pull request says to its reviewer: a title naming the services and the
environment, and a body with each service's image, digest and source commit, the source
commits since what the environment runs now (with their subjects), the scan verdict when it
is known and a link to the run when the server has one. Pure: the writeback gathers it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from services.common.events import ManifestCommitted
from services.common.git import CommitInfo

MAX_TITLE = 250
MAX_COMMITS = 30  # listed per service; the rest counted
MAX_BODY = 60_000  # GitHub's limit is 65,536 characters


@dataclass(frozen=True)
class ServiceChange:
    """One service's part of the promotion, as the reviewer reads it."""

    committed: ManifestCommitted
    since: Sequence[CommitInfo] = ()  # source commits since the one the target runs, newest first
    previous_commit: str | None = None  # the source commit the target runs now
    scan: str = ""  # e.g. "passed: 2 HIGH, 1 MEDIUM"


def title(services: Sequence[str], environment: str) -> str:
    text = f"Promote {', '.join(sorted(services))} to {environment}"
    return text if len(text) <= MAX_TITLE else text[: MAX_TITLE - 1] + "…"


def body(
    environment: str,
    source_environment: str,
    changes: Mapping[str, ServiceChange],
    run_id: str,
    run_url: str | None = None,
) -> str:
    lines = [
        f"Shipline promotes what **{source_environment}** runs to **{environment}**: "
        "the same images, never rebuilt. Merging this deploys them.",
        "",
        "| service | image | digest | source commit |",
        "|---|---|---|---|",
    ]
    for service, change in sorted(changes.items()):
        event = change.committed
        source = event.source
        lines.append(
            f"| {service} | `{event.new_image}` | `{event.digest or 'unknown'}` | "
            f"{source.repository}@{source.commit[:12]} |"
        )
    for service, change in sorted(changes.items()):
        lines += ["", *_service_section(service, environment, change)]
    run = f"[{run_id}]({run_url})" if run_url else f"`{run_id}`"
    lines += ["", f"Run: {run}. A newer promotion to {environment} updates this pull request."]
    text = "\n".join(lines)
    return text if len(text) <= MAX_BODY else text[: MAX_BODY - 1] + "…"


def _service_section(service: str, environment: str, change: ServiceChange) -> list[str]:
    event = change.committed
    lines = [f"### {service}", "", f"- {environment} runs now: `{event.old_image}`"]
    if change.scan:
        lines.append(f"- scan: {change.scan}")
    if change.previous_commit is None:
        lines.append(f"- source commits: {environment} runs no Shipline deploy yet")
        return lines
    if not change.since:
        lines.append("- source commits: none new")
        return lines
    lines.append(f"- source commits since {change.previous_commit[:12]}:")
    for commit in change.since[:MAX_COMMITS]:
        subject = commit.message.splitlines()[0] if commit.message else ""
        lines.append(f"  - {commit.sha[:12]} {subject}")
    if len(change.since) > MAX_COMMITS:
        lines.append(f"  - … and {len(change.since) - MAX_COMMITS} more")
    return lines

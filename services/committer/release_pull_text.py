"""What a release's pull request says to its reviewer: the version and the environment in
the title; in the body each service's image, digest and source commit, the release notes,
the scan verdicts when known and a link to the run. Pure: the writeback gathers it."""

from __future__ import annotations

from collections.abc import Mapping

from services.committer.promotion_pull_text import MAX_BODY, MAX_TITLE, ServiceChange


def release_title(version: str, environment: str) -> str:
    text = f"Release {version} to {environment}"
    return text if len(text) <= MAX_TITLE else text[: MAX_TITLE - 1] + "…"


def release_body(
    version: str,
    environment: str,
    changes: Mapping[str, ServiceChange],
    notes: str,
    run_id: str,
    run_url: str | None = None,
) -> str:
    lines = [
        f"Shipline releases **{version}** to **{environment}**. Merging this deploys it.",
        "",
        "| service | image | digest | source commit | runs now |",
        "|---|---|---|---|---|",
    ]
    for service, change in sorted(changes.items()):
        event = change.committed
        source = event.source
        lines.append(
            f"| {service} | `{event.new_image}` | `{event.digest or 'unknown'}` | "
            f"{source.repository}@{source.commit[:12]} | `{event.old_image}` |"
        )
    scans = [f"- {service}: {c.scan}" for service, c in sorted(changes.items()) if c.scan]
    if scans:
        lines += ["", "Scans:", *scans]
    if notes.strip():
        lines += ["", notes.strip()]
    run = f"[{run_id}]({run_url})" if run_url else f"`{run_id}`"
    lines += [
        "",
        f"Run: {run}. A newer release or promotion to {environment} updates this pull request.",
    ]
    text = "\n".join(lines)
    return text if len(text) <= MAX_BODY else text[: MAX_BODY - 1] + "…"

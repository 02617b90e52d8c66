"""Small text helpers the channels share. Pure."""

from __future__ import annotations

from services.common.events import ServiceOutcome


def commit_url(template: str | None, repository: str, commit: str) -> str | None:
    """The link to a source commit, or None without a template, repository or commit."""
    if not (template and repository and commit):
        return None
    return template.format(repository=repository, commit=commit, short_commit=commit[:7])


def duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m {rest:02d}s"


def scan(outcome: ServiceOutcome) -> str:
    """The scan as a run summary tells it: bypassed, its verdict and counts, or unknown."""
    if outcome.scan_skipped is not None:
        return f"skipped by {outcome.scan_skipped.by}: {outcome.scan_skipped.reason}"
    return outcome.scan or "—"


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"

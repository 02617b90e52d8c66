"""Release notes: the commits since the previous release tag, grouped by conventional-commit
type (`feat(scope)!: subject`). Pure: the commits come in as data."""

from __future__ import annotations

import re
from collections.abc import Sequence

from services.committer.messages import checked_version, one_line
from services.common.git import CommitInfo

GROUPS: tuple[tuple[str, str], ...] = (
    ("breaking", "Breaking changes"),
    ("feat", "Features"),
    ("fix", "Bug fixes"),
    ("perf", "Performance"),
    ("refactor", "Refactoring"),
    ("docs", "Documentation"),
    ("test", "Tests"),
    ("build", "Build and CI"),
    ("ci", "Build and CI"),
    ("chore", "Chores"),
    ("revert", "Reverts"),
    ("other", "Other changes"),
)
_HEADER = re.compile(r"^(?P<type>[a-zA-Z]+)(?:\((?P<scope>[^()\n]*)\))?(?P<bang>!)?: (?P<text>.+)$")
_KNOWN = {key for key, _ in GROUPS} - {"breaking", "other"}


def group_of(message: str) -> tuple[str, str]:
    """(group key, the line for the notes) of one commit message."""
    subject = message.strip().splitlines()[0].strip() if message.strip() else ""
    match = _HEADER.match(subject)
    if match is None:
        return "other", subject
    kind = match["type"].lower()
    scope = f"**{match['scope']}:** " if match["scope"] else ""
    line = f"{scope}{match['text'].strip()}"
    if match["bang"] or re.search(r"^BREAKING[ -]CHANGE: ", message, re.MULTILINE):
        return "breaking", f"{kind}: {line}"
    return (kind if kind in _KNOWN else "other"), line


def release_notes(
    version: str, previous: str | None, commits: Sequence[CommitInfo], bot_email: str
) -> str:
    """Markdown notes for `version`; the pipeline's own commits are left out. They go into
    the release commit's message: an unfit version is refused, subjects stay on their line."""
    checked_version(version)
    grouped: dict[str, list[str]] = {}
    for commit in commits:
        if commit.author_email == bot_email:
            continue
        key, line = group_of(commit.message)
        title = dict(GROUPS)[key]
        grouped.setdefault(title, []).append(f"- {one_line(line)} ({commit.sha[:7]})")
    since = f" (changes since {previous})" if previous else " (first release)"
    lines = [f"## {version}{since}", ""]
    for title in dict.fromkeys(title for _, title in GROUPS):
        if title in grouped:
            lines += [f"### {title}", "", *grouped[title], ""]
    if not grouped:
        lines += ["No changes.", ""]
    return "\n".join(lines)


def prepend_changelog(existing: str | None, notes: str) -> str:
    """CHANGELOG.md with the notes on top (under its `# ` title, when it has one)."""
    notes = notes.rstrip("\n") + "\n"
    if not existing:
        return f"# Changelog\n\n{notes}"
    first, _, rest = existing.partition("\n")
    if first.startswith("# "):
        return f"{first}\n\n{notes}\n{rest.lstrip(chr(10))}"
    return f"{notes}\n{existing}"

"""The git facts a push is judged on, read from the repository's mirror."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

from services.common.errors import PermanentError
from services.common.events import ZERO_SHA, PushReceived
from services.common.git import CommitInfo
from services.common.mirrors import FileReader
from services.common.project import PROJECT_FILE, Entries, entries_of
from services.detector.base import History, Range, choose_range
from services.detector.detect import COMMIT_SCAN_LIMIT


class Git(History, Protocol):
    """The mirror, as the detector uses it (services.common.git.Mirror)."""

    def log(self, base: str | None, after: str, limit: int | None = None) -> list[CommitInfo]: ...

    def fast_forward(self, before: str, after: str) -> CommitInfo | None: ...

    def diff_paths(self, base: str, after: str) -> list[str]: ...

    def diff_status(self, base: str, after: str) -> dict[str, str]: ...

    def tree_paths(self, commit: str) -> list[str]: ...

    def read_file(self, commit: str, path: str) -> bytes | None: ...


@dataclass(frozen=True)
class TreeChanges:
    """How `after`'s tree differs from `before`'s, whatever their ancestry: what a push can
    have broken in a commit that was fine (services/detector/fit.py)."""

    status: Mapping[str, str]  # path → A added, D deleted, M modified, T of another type

    def removed(self) -> list[str]:
        """The paths deleted, or now of another type (a file become a link)."""
        statuses = self.status.values()
        if "D" not in statuses and "T" not in statuses:
            return []  # the usual push, found without a loop in Python
        return [path for path, status in self.status.items() if status in ("D", "T")]

    def present(self, path: str) -> bool:
        """Whether the push added, modified or retyped `path`: it is there at `after`."""
        return self.status.get(path, "D") != "D"


@dataclass(frozen=True)
class Observed:
    """What changed: the range compared, the paths, the earlier shipline.yaml, and the new
    commits: all of them (up to COMMIT_SCAN_LIMIT) when the newest is the pipeline's, else
    just the newest, which is enough to know the push is not the pipeline's alone.
    `since_before`: the trees' difference from `before` (None when git has no `before`).
    """

    range: Range
    paths: list[str]
    commits: list[CommitInfo]
    previous: tuple[Entries | None, ...] = ()
    since_before: TreeChanges | None = None


def pushed_commit(git: History, push: PushReceived) -> str:
    """The commit a push deploys. A host reports an annotated tag's push with the tag
    object's id as `after`: the commit is the one the tag object names. Every later stage
    takes the commit from the events the detector sends, never from the webhook."""
    if not push.ref.startswith("refs/tags/") or push.after == ZERO_SHA:
        return push.after  # a branch always names a commit
    return git.resolve(push.after) or push.after


def ref_mismatch(git: History, push: PushReceived) -> str | None:
    """Why the mirror, fetched after the push, does not back the push up; None when it does.

    A tag must exist and name the pushed commit (an annotated tag's `after` is the tag
    object: both sides are peeled). A branch must exist and contain `after`: it may have
    moved on meanwhile, and the newer push only builds what changed since this one.
    """
    commit = git.resolve(push.after)
    tip = git.resolve(push.ref)
    if tip is None:
        return f"{push.ref} does not exist in {push.repository}"
    if commit is None:
        return f"commit {push.after[:7]} is not in {push.repository}"
    if push.ref.startswith("refs/tags/"):
        if tip != commit:
            return f"{push.ref} points at {tip[:7]}, not at the pushed {push.after[:7]}"
    elif tip != commit and not git.is_ancestor(commit, tip):
        return f"{push.ref} does not contain the pushed commit {push.after[:7]}"
    return None


def observe(
    git: Git,
    push: PushReceived,
    branch: str,
    default_branch: str,
    is_pipeline: Callable[[CommitInfo], bool],
    max_project_bytes: int | None = None,
) -> Observed:
    """The paths and new commits of a branch push, compared with the base git picks.

    An ordinary push costs two git processes, run side by side: the diff from `before`,
    with each path's status (the whole answer for a fast-forward, the dropped commits' part
    after a force push) and one walk telling whether it was a fast-forward and who made the
    newest commit; when that is not the pipeline, the other commits need not be read.
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        known = push.before != ZERO_SHA
        from_before = pool.submit(_diff_if_known, git, push.before, push.after) if known else None
        tip = git.fast_forward(push.before, push.after) if known else None
        span = choose_range(push, branch, default_branch, git, fast_forward=tip is not None)
        commits = [tip] if tip is not None else git.log(None, span.after, limit=1)
        if commits and is_pipeline(commits[0]):
            commits = git.log(span.base, span.after, limit=COMMIT_SCAN_LIMIT)
        statuses = from_before.result() if from_before is not None else None
        since = None if statuses is None else TreeChanges(statuses)
        if span.base is None:
            return Observed(span, git.tree_paths(span.after), commits, since_before=since)
    diffed = None if statuses is None else list(statuses)
    paths = diffed if span.base == push.before and diffed is not None else None
    if paths is None:
        paths = git.diff_paths(span.base, span.after)
    if span.dropped is not None:
        dropped = diffed if span.dropped == push.before else None
        if dropped is None:
            dropped = git.diff_paths(span.dropped, span.after)
        paths = sorted({*paths, *dropped})
    previous: tuple[Entries | None, ...] = ()
    if PROJECT_FILE in paths:
        bases = [span.base] if span.dropped is None else [span.base, span.dropped]
        previous = tuple(earlier_entries(git, base, max_project_bytes) for base in bases)
    return Observed(span, paths, commits, previous, since)


def _diff_if_known(git: Git, before: str, after: str) -> dict[str, str] | None:
    """The diff from `before`, or None when git does not have that commit."""
    try:
        return git.diff_status(before, after)
    except PermanentError:
        return None


def earlier_entries(git: FileReader, commit: str, max_bytes: int | None) -> Entries | None:
    """The service entries of an earlier shipline.yaml, read one by one: a typo in one entry
    leaves the others comparable. None when the file was missing, too large or no YAML
    mapping (every service then counts as new)."""
    try:
        text = git.read_file(commit, PROJECT_FILE)
    except PermanentError:
        return None
    if text is None or (max_bytes is not None and len(text) > max_bytes):
        return None
    return entries_of(text)

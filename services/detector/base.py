"""What a branch push is compared with, decided from git, never from the payload's commits.

Hosts cap their commit lists (GitLab sends the newest 20, GitHub at most 2048), list
nothing for a force push that only drops commits, and show a merge's own file lists
empty or partial. Comparing two trees avoids all of that: the paths that differ between
the base and `after` are what the push changed, including everything a merge brought in
along its first parent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from services.common.events import ZERO_SHA, PushReceived


class History(Protocol):
    """The git questions the rules ask (services.common.git.Mirror answers them)."""

    def is_ancestor(self, ancestor: str, descendant: str) -> bool: ...

    def merge_base(self, first: str, second: str) -> str | None: ...

    def resolve(self, ref: str) -> str | None: ...


@dataclass(frozen=True)
class Range:
    """Compare `base` with `after`; no base means every file of `after` counts.

    After a force push, `dropped` is the old tip: the files its dropped commits touched
    differ from what was deployed, so they count too.
    """

    base: str | None
    after: str
    why: str
    dropped: str | None = None


def choose_range(
    push: PushReceived,
    branch: str,
    default_branch: str,
    git: History,
    fast_forward: bool | None = None,
) -> Range:
    """`fast_forward`: whether `after` descends from `before`, when the caller knows already."""
    after = push.after
    if push.before == ZERO_SHA:
        return _from_default_branch(branch, default_branch, after, git, "new branch")
    if push.before == after:
        return Range(after, after, "nothing new")
    if fast_forward is None:
        fast_forward = git.is_ancestor(push.before, after)
    if fast_forward:
        return Range(push.before, after, "push")
    fork = git.merge_base(push.before, after)
    if fork is not None:
        return Range(fork, after, "force push: compared with the merge-base", dropped=push.before)
    return _from_default_branch(branch, default_branch, after, git, "force push from unknown")


def _from_default_branch(
    branch: str, default_branch: str, after: str, git: History, what: str
) -> Range:
    if branch != default_branch:
        head = git.resolve(f"refs/heads/{default_branch}")
        fork = git.merge_base(after, head) if head else None
        if fork is not None:
            return Range(fork, after, f"{what}: compared with {default_branch}")
    return Range(None, after, f"{what}: nothing to compare with, every service builds")

"""The pull-request contract every git host implements, and the records it speaks in."""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from services.common.errors import PermanentError


class PullRequestState(StrEnum):
    OPEN = "open"
    MERGED = "merged"
    CLOSED = "closed"  # closed without merging


class PullRequest(BaseModel):
    """A pull request (GitLab: merge request) as the host reports it."""

    model_config = ConfigDict(frozen=True)

    number: int  # GitHub and Gitea: the number; GitLab: the iid
    url: str  # the page a reviewer opens
    state: PullRequestState
    title: str
    head: str  # the branch it merges
    base: str  # the branch it merges into
    merge_commit_sha: str | None = None  # set once merged: the commit now on `base`
    head_sha: str | None = None  # the head branch's commit, as the host has it
    # the head branch is in the repository itself, not a fork (None: the host did not say)
    same_repository: bool | None = None


class PullRequestDraft(BaseModel):
    """What a new pull request says and merges."""

    model_config = ConfigDict(frozen=True)

    title: str = Field(min_length=1, max_length=250)
    body: str = ""
    head: str = Field(min_length=1)
    base: str = Field(min_length=1)
    labels: tuple[str, ...] = ()


class PullRequests(Protocol):
    """The pull requests of one repository on its git host.

    Every method raises TransientError (timeouts, 5xx, rate limits) or PermanentError
    (any other refusal, with the host's message); never one naming the token."""

    def find_open(self, head: str, base: str) -> PullRequest | None:
        """The open pull request from branch `head` into `base`, if there is one."""
        ...

    def list_open(self, base: str, head_prefix: str) -> list[PullRequest]:
        """The open pull requests into `base` whose head branch starts with `head_prefix`
        (the first MAX_LISTED the host lists; a fork's branch of that name too: the caller
        tells them apart by `same_repository`)."""
        ...

    def open(self, draft: PullRequestDraft) -> PullRequest:
        """Open a pull request (with its labels; a label the repository lacks is created)."""
        ...

    def update(self, number: int, *, title: str, body: str) -> PullRequest: ...

    def close(self, number: int, comment: str | None = None) -> PullRequest:
        """Close it unmerged (superseded), leaving `comment` on it first when given."""
        ...

    def get(self, number: int) -> PullRequest:
        """Its state now: open, merged (with the merge commit) or closed unmerged."""
        ...

    def enable_auto_merge(self, number: int) -> bool:
        """Ask the host to merge it once its checks pass; False where the host cannot."""
        ...


MAX_LISTED = 500  # open pull requests looked through by list_open at most


def unreadable(host: str, problem: Exception) -> PermanentError:
    """A host's answer that is no pull request as its API describes one."""
    reason = f"{type(problem).__name__}: {problem}"
    return PermanentError(f"{host} answered a pull request Shipline cannot read: {reason}"[:300])

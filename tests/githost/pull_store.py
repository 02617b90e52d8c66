"""What a loopback host keeps of its pull requests, and what a person does to them."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class StoredPull:
    number: int
    title: str
    body: str
    head: str
    base: str
    state: str = "open"  # open | closed
    merged: bool = False
    merge_sha: str | None = None
    labels: list[str] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    auto_merge: bool = False
    head_sha: str = ""  # the head branch's commit ("": the fake's own stand-in)
    fork: str | None = None  # the head branch's repository when it is a fork (owner/name)


class PullStore:
    def __init__(self) -> None:
        self.pulls: dict[int, StoredPull] = {}

    def add(self, title: str, body: str, head: str, base: str) -> StoredPull:
        pull = StoredPull(len(self.pulls) + 1, title, body, head, base)
        self.pulls[pull.number] = pull
        return pull

    def merge(self, number: int, sha: str = "c0ffee" * 6 + "beef") -> None:
        """A person merges it."""
        pull = self.pulls[number]
        pull.state, pull.merged, pull.merge_sha = "closed", True, sha

    def close(self, number: int) -> None:
        """A person closes it unmerged."""
        self.pulls[number].state = "closed"

    def open_pulls(self) -> list[StoredPull]:
        return [pull for pull in self.pulls.values() if pull.state == "open"]

"""Counting the reads of a gitops branch's Shipline-Deployed trailers (one `git log --grep`
each), for the tests that show a reader goes on from a cached head."""

from __future__ import annotations

import pytest

from services.common.git import CommitInfo, Mirror
from services.detector.deployed import TRAILER_GREP


def trailer_reads(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """The base of every trailer read from now on, in order (None: the whole branch)."""
    bases: list[str | None] = []
    log = Mirror.log

    def counted(
        self: Mirror,
        base: str | None,
        after: str,
        limit: int | None = None,
        grep: str | None = None,
    ) -> list[CommitInfo]:
        if grep == TRAILER_GREP:
            bases.append(base)
        return log(self, base, after, limit, grep)

    monkeypatch.setattr(Mirror, "log", counted)
    return bases

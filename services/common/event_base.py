"""What every event shares: the envelope, the source commit, the value types and statuses.
services/common/events.py builds the events on it and re-exports these names."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1
ZERO_SHA = "0" * 40  # git's name for "no commit": a new ref's before, a deleted ref's after

# awaiting-merge: a promotion's pull request is open; rejected: it was closed unmerged
ServiceStatus = Literal[
    "pending",
    "running",
    "succeeded",
    "failed",
    "blocked",
    "skipped",
    "superseded",
    "held",
    "awaiting-merge",
    "rejected",
]
RunStatus = Literal[
    "queued",
    "running",
    "succeeded",
    "failed",
    "blocked",
    "skipped",
    "superseded",
    "held",
    "awaiting-merge",
    "rejected",
]
BuildArgName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")]
ServiceName = Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")]
ImageTag = Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")]


def _now() -> datetime:
    return datetime.now(UTC)


class Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Envelope(Model):
    type: str  # narrowed to a Literal by every concrete event
    event_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    run_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    occurred_at: datetime = Field(default_factory=_now)
    schema_version: Literal[1] = 1

    def follow_up_id(self, kind: str, *parts: str) -> uuid.UUID:
        """A deterministic id for an event this one causes, so redelivery dedupes downstream."""
        return uuid.uuid5(self.event_id, ":".join((kind, *parts)))


class Source(Model):
    """Which commit of which configured repository an event is about."""

    repository: str
    commit: str = Field(pattern=r"^[0-9a-f]{40}$")
    ref: str

    @property
    def short_sha(self) -> str:
        return self.commit[:7]


class PushedCommit(Model):
    id: str
    message: str = ""
    author: str = ""
    added: tuple[str, ...] = ()
    modified: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()

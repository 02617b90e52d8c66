"""What the runs API derives from the run store: the query's filters, its paging cursor, and
each run's timeline. Pure functions of their inputs."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from services.common.run_models import Run, ServiceRecord, TimelineStage
from services.common.run_records import FINAL_SERVICE_STATUSES


class BadQuery(ValueError):
    """A query parameter that could not be understood; the message names it and why."""


def parse_since(value: str) -> float:
    """Seconds since the epoch from `1732812000`, `1732812000.5` or ISO 8601 (UTC if naive)."""
    try:
        return float(value)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise BadQuery(
            "since: expected an ISO 8601 time (2026-11-28T18:00:00Z) or seconds since the epoch"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


@dataclass(frozen=True)
class Cursor:
    """Where the previous page ended: the last run's creation time and id (opaque to clients)."""

    created_at: float
    run_id: str

    def encode(self) -> str:
        raw = f"{self.created_at!r}|{self.run_id}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, value: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
            created_at, run_id = raw.split("|", 1)
            return cls(float(created_at), run_id)
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise BadQuery("cursor: not a cursor this API returned") from None

    def is_after(self, run_id: str, created_at: float) -> bool:
        """Whether a run comes after this cursor in newest-first order."""
        return created_at < self.created_at or (
            created_at == self.created_at and run_id < self.run_id
        )


def after_cursor(
    entries: Iterable[tuple[str, float]], cursor: Cursor | None
) -> Iterator[tuple[str, float]]:
    for run_id, created_at in entries:
        if cursor is None or cursor.is_after(run_id, created_at):
            yield run_id, created_at


def matches(run: Run, service: str | None, status: str | None) -> bool:
    if status is not None and run.status != status:
        return False
    return service is None or service in run.services


def timeline(run: Run) -> dict[str, list[TimelineStage]]:
    """Per service, its stages in pipeline order: started, finished, seconds, and state
    (`done`, `running`, or the service's final status at the stage that ended it)."""
    return {name: _stages(service) for name, service in run.services.items()}


def _stages(service: ServiceRecord) -> list[TimelineStage]:
    ended_at = service.stage if service.status in FINAL_SERVICE_STATUSES else None
    stages = []
    for stage, marks in service.timings.items():
        if stage == ended_at:
            state: str = service.status
        else:
            state = "done" if marks.finished is not None else "running"
        stages.append(
            TimelineStage(
                stage=stage,
                state=state,
                started=marks.started,
                finished=marks.finished,
                seconds=marks.seconds,
            )
        )
    return stages

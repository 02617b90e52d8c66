"""What the runs API derives from the run store: the query's filters, its paging cursor, and
each run's timeline. Pure functions of their inputs."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

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


def matches(run: dict[str, Any], service: str | None, status: str | None) -> bool:
    if status is not None and run.get("status") != status:
        return False
    return service is None or service in run.get("services", {})


def timeline(run: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Per service, its stages in pipeline order: started, finished, seconds, and state
    (`done`, `running`, or the service's final status at the stage that ended it)."""
    return {name: _stages(service) for name, service in run.get("services", {}).items()}


def _stages(service: dict[str, Any]) -> list[dict[str, Any]]:
    ended_at = service.get("stage") if service.get("status") in FINAL_SERVICE_STATUSES else None
    stages = []
    for stage, marks in service.get("timings", {}).items():
        if stage == ended_at:
            state = service["status"]
        else:
            state = "done" if "finished" in marks else "running"
        stages.append(
            {
                "stage": stage,
                "state": state,
                "started": marks.get("started"),
                "finished": marks.get("finished"),
                "seconds": marks.get("seconds"),
            }
        )
    return stages

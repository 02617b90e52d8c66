"""What each scan left on the git host, kept with the scan: GitHub's code-scanning upload
(its SARIF id, the URL to ask about its processing, and what GitHub said of that processing
since) or, on GitLab and Gitea, the commit status linking the run; or why the host refused
it. The scanner writes it, the scan API shows it (GET /api/v1/runs/{run_id}/services/
{service}/scan, `host_report`).

An upload GitHub has yet to process is in a sorted set (`keys.code_scanning_pending`) scored
by when to ask GitHub again (services/githost/code_scanning_status.py); it leaves the set
once its processing status is final. The set is written before the report and emptied after
it, so a report that says `pending` is always in it (an entry whose report is gone or final
is dropped when it comes due).

One key per run and service. A scan claims it before it talks to the host, so a redelivered
scan finds the claim (or the outcome) and leaves the host alone: one upload per scan. A
claim a dead worker left expires after `CLAIM_SECONDS`, and the next delivery tries again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import redis
from pydantic import BaseModel, ConfigDict, Field

from services.common.json_records import JsonRecords
from services.common.keyspace import DEFAULT_KEYSPACE, Keyspace
from services.common.redis_types import RedisClient, bytes_client

REPORT_TTL = 30 * 24 * 3600  # as long as the scan's verdict
CLAIM_SECONDS = 300  # longer than a host call can take (services/githost/code_scanning.py)

ReportState = Literal["sending", "uploaded", "status_set", "failed"]
# GitHub's three, then Shipline's: `not_found` GitHub knows no upload of that id (404),
# `unknown` nothing final within code_scanning_status.GIVE_UP_SECONDS of the upload
ProcessingStatus = Literal["pending", "complete", "failed", "not_found", "unknown"]
FINAL_STATUSES = frozenset({"complete", "failed", "not_found", "unknown"})


class HostReport(BaseModel):
    """How the host was told about a scan. `state`: `sending` (a worker is at it),
    `uploaded` (GitHub accepted the SARIF for processing), `status_set` (GitLab or Gitea
    set the commit status), `failed` (`reason` says why; the deploy went on regardless)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: Literal["github", "gitlab", "gitea"]
    repository: str | None = Field(
        default=None, description="The repository's name in Shipline's settings"
    )
    kind: Literal["code_scanning", "commit_status"]
    state: ReportState
    commit: str
    ref: str
    category: str | None = Field(
        default=None, description="GitHub: the analysis category, one per service"
    )
    sarif_id: str | None = Field(default=None, description="GitHub: the upload's id")
    status_url: str | None = Field(
        default=None, description="GitHub: the API URL answering the upload's processing status"
    )
    target_url: str | None = Field(
        default=None, description="GitLab and Gitea: the link the commit status carries"
    )
    reason: str | None = None
    at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    processing_status: ProcessingStatus | None = Field(
        default=None,
        description="GitHub: the upload's processing, as last read from `status_url`: "
        "`pending`, `complete`, `failed`; `not_found` (GitHub knows no such upload), "
        "`unknown` (nothing final within an hour of the upload)",
    )
    analyses_url: str | None = Field(
        default=None, description="GitHub: the analyses made of the upload, once complete"
    )
    processing_errors: list[str] | None = Field(
        default=None, description="GitHub: why processing failed, as GitHub says"
    )
    checked_at: datetime | None = Field(
        default=None, description="GitHub: when the processing status was last read"
    )
    check_error: str | None = Field(
        default=None,
        description="GitHub: why the last reading of the processing status failed (the "
        "host down, a refusal, a 404); asked again later unless the status is final",
    )


@dataclass(frozen=True)
class PendingUpload:
    """One upload to ask GitHub about: where the scan's report is, and its repository."""

    repository: str
    run_id: str
    service: str

    def member(self) -> str:
        return json.dumps([self.repository, self.run_id, self.service])

    @classmethod
    def of(cls, member: bytes) -> PendingUpload | None:
        try:
            repository, run_id, service = json.loads(member)
        except ValueError:
            return None
        return cls(str(repository), str(run_id), str(service))


class ScanHostReports:
    """One JSON report per run and service, at `keys.scan_host_report(run_id, service)`."""

    def __init__(
        self,
        client: redis.Redis | RedisClient,
        ttl: int = REPORT_TTL,
        *,
        keys: Keyspace = DEFAULT_KEYSPACE,
    ) -> None:
        self._records, self._keys = JsonRecords(client, HostReport, ttl), keys
        self._redis = bytes_client(client)

    def claim(self, run_id: str, service: str, sending: HostReport) -> bool:
        """True: this scan is the one to tell the host; False: another delivery did or does."""
        key = self._keys.scan_host_report(run_id, service)
        return self._records.put_new(key, sending, CLAIM_SECONDS)

    def record(
        self, run_id: str, service: str, report: HostReport, *, check_at: float | None = None
    ) -> None:
        """Keep `report`; with `check_at` (unix time) its upload is asked about then, else,
        with a final processing status, no more."""
        pending = PendingUpload(report.repository or "", run_id, service).member()
        if check_at is not None:
            self._redis.zadd(self._keys.code_scanning_pending, {pending: check_at})
        self._records.put(self._keys.scan_host_report(run_id, service), report)
        if check_at is None and report.processing_status in FINAL_STATUSES:
            self._redis.zrem(self._keys.code_scanning_pending, pending)

    def due(self, now: float, limit: int) -> list[PendingUpload]:
        """The uploads to ask about by `now`, the longest due first, at most `limit`."""
        index = self._keys.code_scanning_pending
        members = self._redis.zrangebyscore(index, "-inf", now, start=0, num=limit)
        found = [(member, PendingUpload.of(member)) for member in members]
        unreadable = [member for member, pending in found if pending is None]
        if unreadable:
            self._redis.zrem(index, *unreadable)
        return [pending for _, pending in found if pending is not None]

    def forget(self, pending: PendingUpload) -> None:
        """Ask about `pending` no more (its report is gone, or says nothing to ask)."""
        self._redis.zrem(self._keys.code_scanning_pending, pending.member())

    def get(self, run_id: str, service: str) -> HostReport | None:
        return self._records.get(self._keys.scan_host_report(run_id, service))

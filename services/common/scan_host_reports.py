"""What each scan left on the git host, kept with the scan: GitHub's code-scanning upload
(its SARIF id and the URL to ask about its processing) or, on GitLab and Gitea, the commit
status linking the run; or why the host refused it. The scanner writes it, the scan API
shows it (GET /api/v1/runs/{run_id}/services/{service}/scan, `host_report`).

One key per run and service. A scan claims it before it talks to the host, so a redelivered
scan finds the claim (or the outcome) and leaves the host alone: one upload per scan. A
claim a dead worker left expires after `CLAIM_SECONDS`, and the next delivery tries again.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

import redis
from pydantic import BaseModel, ConfigDict, Field

from services.common.json_records import JsonRecords
from services.common.keyspace import DEFAULT_KEYSPACE, Keyspace
from services.common.redis_types import RedisClient

REPORT_TTL = 30 * 24 * 3600  # as long as the scan's verdict
CLAIM_SECONDS = 300  # longer than a host call can take (services/githost/code_scanning.py)

ReportState = Literal["sending", "uploaded", "status_set", "failed"]


class HostReport(BaseModel):
    """How the host was told about a scan. `state`: `sending` (a worker is at it),
    `uploaded` (GitHub accepted the SARIF for processing), `status_set` (GitLab or Gitea
    set the commit status), `failed` (`reason` says why; the deploy went on regardless)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: Literal["github", "gitlab", "gitea"]
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

    def claim(self, run_id: str, service: str, sending: HostReport) -> bool:
        """True: this scan is the one to tell the host; False: another delivery did or does."""
        key = self._keys.scan_host_report(run_id, service)
        return self._records.put_new(key, sending, CLAIM_SECONDS)

    def record(self, run_id: str, service: str, report: HostReport) -> None:
        self._records.put(self._keys.scan_host_report(run_id, service), report)

    def get(self, run_id: str, service: str) -> HostReport | None:
        return self._records.get(self._keys.scan_host_report(run_id, service))

"""What GitHub made of each code-scanning upload, read after the scan and kept with it.

GitHub processes an uploaded SARIF later (`GET repos/{owner}/{repo}/code-scanning/sarifs/
{sarif_id}` answers `processing_status`: pending, complete or failed, with `analyses_url`
and `errors`). A pass over the uploads due (ScanHostReports.due, at most `batch` of them)
asks about each and records the answer in the scan's host report: complete or failed is
final; pending is asked again later, after as long again as the upload's age (from
FIRST_CHECK_SECONDS, at most MAX_INTERVAL_SECONDS apart); nothing final within
GIVE_UP_SECONDS of the upload is recorded `unknown` and asked no more. A 404 (GitHub knows
no upload of that id) is recorded `not_found`: final once the upload is older than
NOT_FOUND_GRACE_SECONDS, before that asked again in case GitHub has not yet stored it.

The host unreachable, a 5xx or a refusal is recorded as `check_error` and asked again: the
deploy is long past, nothing here can touch it. The token never reaches a record or a log.
The pass runs in the scanner's processes (code_scanning_follow_up.py), which hold the
source repository's host token anyway.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from services.common.errors import ShiplineError
from services.common.logging import get_logger
from services.common.repository_settings import GitHost, Repository
from services.common.scan_host_reports import (
    HostReport,
    PendingUpload,
    ScanHostReports,
)
from services.githost.hosts import host_api
from services.githost.http import HostApi, NotFound

FIRST_CHECK_SECONDS = 5.0  # GitHub usually processes a small SARIF within seconds
MAX_INTERVAL_SECONDS = 300.0
GIVE_UP_SECONDS = 3600.0  # then `unknown`: GitHub's own Action gives up after 2 minutes
NOT_FOUND_GRACE_SECONDS = 120.0
BATCH = 20  # uploads asked about per pass
TIMEOUT_SECONDS = 10.0
ERROR_CHARS = 500


# --- pure: what GitHub's answer means --------------------------------------------------


def read_status(answer: Any) -> dict[str, Any]:
    """The host report's fields from GitHub's `code-scanning-sarifs-status` answer."""
    answer = answer if isinstance(answer, dict) else {}
    status = answer.get("processing_status")
    errors = answer.get("errors")
    return {
        "processing_status": status if status in ("complete", "failed") else "pending",
        "analyses_url": _text(answer.get("analyses_url")),
        "processing_errors": [str(e) for e in errors] if isinstance(errors, list) else None,
        "check_error": None,
    }


def next_check(age: float) -> float:
    """Seconds until an upload `age` seconds old is asked about again: its age again."""
    return min(MAX_INTERVAL_SECONDS, max(FIRST_CHECK_SECONDS, age))


# --- the pass ---------------------------------------------------------------------------


class UploadStatusCheck:
    """Asks GitHub about the uploads due and records its answers; never raises for the
    host (Redis unreachable does: the caller's loop logs it and passes again)."""

    def __init__(
        self,
        repositories: list[Repository],
        reports: ScanHostReports,
        *,
        hosts: Callable[[GitHost, float], HostApi] = host_api,
        now: Callable[[], float] = time.time,
        batch: int = BATCH,
        give_up_seconds: float = GIVE_UP_SECONDS,
    ) -> None:
        self._repositories = {repo.name: repo for repo in repositories}
        self._reports, self._hosts, self._now = reports, hosts, now
        self._batch, self._give_up = batch, give_up_seconds

    def pass_once(self, leading: Callable[[], bool] = lambda: True) -> int:
        """Asks about the uploads due, while `leading()`: how many it asked about."""
        asked = 0
        for pending in self._reports.due(self._now(), self._batch):
            if not leading():
                break
            asked += self._check(pending)
        return asked

    def _check(self, pending: PendingUpload) -> int:
        report = self._reports.get(pending.run_id, pending.service)
        repository = self._repositories.get(pending.repository)
        host = repository.host if repository is not None else None
        asking = report is not None and report.processing_status in ("pending", "not_found")
        if not asking or report is None or not report.sarif_id or host is None:
            self._reports.forget(pending)  # nothing (more) to ask GitHub
            return 0
        assert repository is not None
        now = self._now()
        age = now - report.at.timestamp()
        checked = datetime.fromtimestamp(now, UTC)
        if age > self._give_up:
            update: dict[str, Any] = {"processing_status": "unknown", "checked_at": checked}
            self._settle(pending, report.model_copy(update=update), None)
            return 0
        project = host.project or repository.name
        path = f"repos/{project}/code-scanning/sarifs/{quote(report.sarif_id, safe='')}"
        try:
            answer = self._hosts(host, TIMEOUT_SECONDS).call("GET", path)
        except NotFound as exc:
            final = age > NOT_FOUND_GRACE_SECONDS
            update = {"processing_status": "not_found", "check_error": _said(exc, host)}
            check_at = None if final else now + next_check(age)
        except ShiplineError as exc:  # down, 5xx, rate limited, refused: asked again later
            update = {"check_error": _said(exc, host)}
            check_at = now + next_check(age)
        else:
            update = read_status(answer)
            check_at = now + next_check(age) if update["processing_status"] == "pending" else None
        update["checked_at"] = checked
        self._settle(pending, report.model_copy(update=update), check_at)
        return 1

    def _settle(self, pending: PendingUpload, report: HostReport, check_at: float | None) -> None:
        self._reports.record(pending.run_id, pending.service, report, check_at=check_at)
        log = get_logger(run_id=pending.run_id, service=pending.service, host="github")
        if check_at is None:
            log.info("code-scanning upload settled", processing_status=report.processing_status)
        elif report.check_error:
            log.warning("code-scanning status not read", error=report.check_error)


def _said(exc: Exception, host: GitHost) -> str:
    token = host.token.get_secret_value()
    text = str(exc)
    return (text.replace(token, "***") if token else text)[:ERROR_CHARS]


def _text(value: object) -> str | None:
    return str(value) if value is not None else None

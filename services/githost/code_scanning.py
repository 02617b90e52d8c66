"""Each scan's findings where the git host shows them, for the pushed commit.

GitHub: the scan's SARIF is uploaded to code scanning (`POST repos/{owner}/{repo}/code-scanning/
sarifs`, gzip then base64), one analysis category per service (`shipline/<service>/`, set in
the SARIF's `runs[].automationDetails.id`) so services do not replace each other's alerts.
GitLab and Gitea have no code-scanning API: the commit gets a status `shipline/scan/<service>`
(success or failed, the counts) linking the run's page on Shipline (`host.shipline_url`).

GitHub processes an upload later: the upload is recorded `pending`, and the scanner's
follow-up (code_scanning_status.py) asks GitHub until it is complete or failed.

Once per scan (a redelivered scan finds the claim in ScanHostReports), and never in the
deploy's way: whatever goes wrong (the host down, code scanning off, a 404) is recorded with
the scan and logged, without the token, and the scan's outcome stands.
"""

from __future__ import annotations

import base64
import copy
import gzip
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from services.common.errors import PermanentError
from services.common.events import ScanFailed, ScanPassed
from services.common.logging import get_logger
from services.common.repository_settings import GitHost, Repository
from services.common.run_records import scan_summary
from services.common.scan_host_reports import HostReport, ScanHostReports
from services.githost.code_scanning_status import FIRST_CHECK_SECONDS
from services.githost.hosts import host_api

TIMEOUT_SECONDS = 10.0  # one call per scan, before the scan's outcome goes on
MAX_GZIPPED_BYTES = 10 * 1024 * 1024  # GitHub refuses larger uploads (413)
TOOL_NAME = "Trivy"  # the SARIF's driver: GitHub groups analyses by tool and category
DESCRIPTION_CHARS = 140  # Gitea's and GitHub's limit on a status description

ScanOutcome = ScanPassed | ScanFailed


# --- pure: what the host is sent ---------------------------------------------------------


def category(service: str) -> str:
    """GitHub's analysis category of a service: SARIF ids up to their last `/`."""
    return f"shipline/{service}/"


def categorized(sarif: dict[str, Any], service: str, run_id: str) -> dict[str, Any]:
    """The SARIF with every run's automation id in the service's category."""
    tagged = copy.deepcopy(sarif)
    for run in tagged.get("runs", []):
        run["automationDetails"] = {"id": category(service) + run_id}
    return tagged


def gzip_base64(sarif: dict[str, Any]) -> str:
    """The SARIF as GitHub takes it: gzip, then base64. Raises PermanentError when it is
    over GitHub's limit, rather than sending what will be refused."""
    packed = gzip.compress(json.dumps(sarif, separators=(",", ":")).encode(), mtime=0)
    if len(packed) > MAX_GZIPPED_BYTES:
        raise PermanentError(
            f"the SARIF is {len(packed)} bytes gzipped, over code scanning's "
            f"{MAX_GZIPPED_BYTES} bytes: not uploaded"
        )
    return base64.b64encode(packed).decode()


def full_ref(ref: str, default_branch: str) -> str:
    """`refs/heads/…` or `refs/tags/…`: a bare name is a branch, no ref the default one."""
    if ref.startswith("refs/"):
        return ref
    return f"refs/heads/{ref or default_branch}"


def short_ref(ref: str) -> str:
    """The branch or tag name GitLab's `ref` takes."""
    for prefix in ("refs/heads/", "refs/tags/"):
        if ref.startswith(prefix):
            return ref.removeprefix(prefix)
    return ref


def sarif_upload(
    sarif: dict[str, Any], outcome: ScanOutcome, default_branch: str
) -> dict[str, Any]:
    """The body of GitHub's `code-scanning/upload-sarif`."""
    return {
        "commit_sha": outcome.source.commit,
        "ref": full_ref(outcome.source.ref, default_branch),
        "sarif": gzip_base64(categorized(sarif, outcome.service, outcome.run_id)),
        "tool_name": TOOL_NAME,
    }


def run_page(shipline_url: str | None, run_id: str) -> str | None:
    """The run's page on Shipline's dashboard, with the scan of each service."""
    return f"{shipline_url}/#/runs/{quote(run_id, safe='')}" if shipline_url else None


def commit_status(
    host_type: str, outcome: ScanOutcome, target_url: str | None, default_branch: str
) -> dict[str, Any]:
    """The commit status body for GitLab (`name`, `ref`) or Gitea (`context`)."""
    passed = isinstance(outcome, ScanPassed)
    verdict = "passed" if passed else "blocked"
    body: dict[str, Any] = {
        "description": scan_summary(verdict, outcome.counts)[:DESCRIPTION_CHARS],
    }
    context = f"shipline/scan/{outcome.service}"
    if host_type == "gitlab":
        ref = short_ref(full_ref(outcome.source.ref, default_branch))
        body.update(state="success" if passed else "failed", name=context, ref=ref)
    else:
        body.update(state="success" if passed else "failure", context=context)
    if target_url:
        body["target_url"] = target_url
    return body


# --- the host calls ------------------------------------------------------------------------


class HostScanReports:
    """Tells a scanned commit's git host about the scan. Nothing the host does makes `report`
    raise; Redis unreachable does, as it fails the scan's verdict anyway (and the retry)."""

    def __init__(self, repositories: list[Repository], reports: ScanHostReports) -> None:
        self._repositories = {repo.name: repo for repo in repositories}
        self._reports = reports

    def report(self, outcome: ScanOutcome) -> HostReport | None:
        """What the host was given (or why not); None when the repository names no host or
        another delivery of this scan already told it."""
        repository = self._repositories.get(outcome.source.repository)
        if repository is None or repository.host is None or not outcome.sarif_location:
            return None
        host = repository.host
        sending = HostReport(
            host=host.type,
            repository=repository.name,
            kind="code_scanning" if host.type == "github" else "commit_status",
            state="sending",
            commit=outcome.source.commit,
            ref=full_ref(outcome.source.ref, repository.default_branch),
        )
        log = get_logger(run_id=outcome.run_id, service=outcome.service, host=host.type)
        if not self._reports.claim(outcome.run_id, outcome.service, sending):
            log.info("scan already reported to the git host")
            return None
        try:
            done = self._send(host, repository, outcome, sending)
        except Exception as exc:  # the deploy goes on, whatever the host did
            reason = _without(f"{type(exc).__name__}: {exc}", host)[:500]
            done = sending.model_copy(update={"state": "failed", "reason": reason})
            log.warning("scan not reported to the git host", kind=done.kind, reason=reason)
        else:
            log.info("scan reported to the git host", kind=done.kind, state=done.state)
        pending = done.processing_status == "pending"
        check_at = time.time() + FIRST_CHECK_SECONDS if pending else None
        self._reports.record(outcome.run_id, outcome.service, done, check_at=check_at)
        return done

    def _send(
        self, host: GitHost, repository: Repository, outcome: ScanOutcome, sending: HostReport
    ) -> HostReport:
        api = host_api(host, TIMEOUT_SECONDS)
        project = host.project or repository.name
        default_branch = repository.default_branch
        sha = outcome.source.commit
        if host.type == "github":
            sarif = json.loads(Path(outcome.sarif_location).read_text(encoding="utf-8"))
            body = sarif_upload(sarif, outcome, default_branch)
            answer = api.call("POST", f"repos/{project}/code-scanning/sarifs", json_body=body)
            answer = answer if isinstance(answer, dict) else {}
            return sending.model_copy(
                update={
                    "state": "uploaded",
                    "category": category(outcome.service),
                    "sarif_id": _text(answer.get("id")),
                    "status_url": _text(answer.get("url")),
                    "processing_status": "pending" if answer.get("id") else None,
                }
            )
        target_url = run_page(host.shipline_url, outcome.run_id)
        status = commit_status(host.type, outcome, target_url, default_branch)
        if host.type == "gitlab":
            path = f"projects/{quote(project, safe='')}/statuses/{sha}"
        else:
            path = f"repos/{project}/statuses/{sha}"
        api.call("POST", path, json_body=status)
        return sending.model_copy(update={"state": "status_set", "target_url": target_url})


def _text(value: object) -> str | None:
    return str(value) if value is not None else None


def _without(text: str, host: GitHost) -> str:
    token = host.token.get_secret_value()
    return text.replace(token, "***") if token else text

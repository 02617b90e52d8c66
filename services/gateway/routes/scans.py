"""The scan of one service in a run: the decision explained, and the reports kept for it."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from services.common.events import Finding, SbomRecord, ScanBypass
from services.common.sbom_record import SbomRecords
from services.common.scan_host_reports import HostReport, ScanHostReports
from services.common.scan_reports import ScanReports
from services.gateway.deps import RuntimeDep

router = APIRouter(prefix="/api/v1/runs", tags=["scans"])
RunId = Path(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
ServiceName = Path(pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
MEDIA_TYPES = {
    "json": "application/json",
    "sarif": "application/sarif+json",
    "cyclonedx": "application/vnd.cyclonedx+json",
}
FILE_SUFFIXES = {"json": "trivy.json", "sarif": "sarif", "cyclonedx": "cdx.json"}


class ScanSummary(BaseModel):
    """The scan gate's decision on one image, and why."""

    run_id: str
    service: str
    image: str
    digest: str
    outcome: Literal["passed", "failed", "skipped"]
    skipped: ScanBypass | None = Field(description="who skipped the scan and why, if it was")
    policy: str
    counts: dict[str, int] = Field(description="findings per severity, as the policy counts them")
    violations: list[str] = Field(description="the rules the findings broke")
    findings: list[Finding] = Field(description="the findings that broke the policy")
    suppressed: list[Finding] = Field(description="findings an allowlist entry accepted")
    unfixed_ignored: int
    scanned_at: datetime
    reports: dict[str, str] = Field(description="links to the reports by format; none if skipped")
    sbom: SbomRecord | None = Field(
        default=None, description="the image's SBOM: its digest, where it is attached, or why not"
    )
    host_report: HostReport | None = Field(
        default=None, description="what the git host got: code scanning upload or commit status"
    )


REPORTS: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The summary; `?format=json`: Trivy's own JSON report instead (as a file, "
        "application/json); `?format=sarif`: SARIF 2.1.0; `?format=cyclonedx`: the image's "
        "CycloneDX SBOM",
        "content": {
            MEDIA_TYPES["sarif"]: {"schema": {"type": "object"}},
            MEDIA_TYPES["cyclonedx"]: {"schema": {"type": "object"}},
        },
    }
}


@router.get("/{run_id}/services/{service}/scan", response_model=ScanSummary, responses=REPORTS)
def scan(
    runtime: RuntimeDep,
    run_id: str = RunId,
    service: str = ServiceName,
    report_format: Literal["json", "sarif", "cyclonedx"] | None = Query(None, alias="format"),
) -> ScanSummary | FileResponse:
    """Without `format`: the outcome, counts, breaking and allowlisted findings, and links.
    `?format=json`: the full Trivy JSON; `?format=sarif`: the SARIF of the policy's severities
    (`application/sarif+json`); `?format=cyclonedx`: the image's CycloneDX SBOM, the same
    bytes as the artifact attached to the image in the registry. `404` an unknown run, no scan
    yet, a skipped scan or a report not in this gateway's workdir; `422` another format."""
    if runtime.runs.get(run_id) is None:
        raise HTTPException(404, f"run {run_id} not found")
    outcome = _last_scan(runtime, run_id, service)
    if outcome is None:
        raise HTTPException(404, f"no scan of {service} in run {run_id} (yet)")
    if report_format is None:
        on_host = ScanHostReports(runtime.redis, keys=runtime.keyspace).get(run_id, service)
        if sbom := SbomRecords(runtime.redis, keys=runtime.keyspace).get(run_id, service):
            outcome = outcome | {"sbom": sbom.model_dump(mode="json")}  # made after the scan
        found = summary(outcome, f"/api/v1/runs/{run_id}/services/{service}/scan")
        return found.model_copy(update={"host_report": on_host})
    if outcome.get("skipped"):
        raise HTTPException(404, f"the scan of {service} was skipped: there is no report")
    path = ScanReports(runtime.settings.workdir / "reports").find(run_id, service, report_format)
    if path is None:
        raise HTTPException(
            404, f"the {report_format} report of {service} is not in this gateway's workdir"
        )
    filename = f"{run_id}-{service}.{FILE_SUFFIXES[report_format]}"
    return FileResponse(path, media_type=MEDIA_TYPES[report_format], filename=filename)


def summary(outcome: dict[str, Any], url: str) -> ScanSummary:
    """The scan event, reshaped for people and tools: what was decided and why."""
    skipped = outcome.get("skipped")
    passed = outcome["type"] == "ScanPassed"
    reports = {"json": f"{url}?format=json", "sarif": f"{url}?format=sarif"}
    sbom = outcome.get("sbom")
    if sbom and sbom.get("digest"):
        reports["cyclonedx"] = f"{url}?format=cyclonedx"
    return ScanSummary.model_validate(
        {
            "run_id": outcome["run_id"],
            "service": outcome["service"],
            "image": f"{outcome['image_repository']}:{outcome['tags'][0]}",
            "digest": outcome["digest"],
            "outcome": "skipped" if skipped else "passed" if passed else "failed",
            "skipped": skipped,
            "policy": outcome["policy"],
            "counts": outcome["counts"],
            "violations": outcome.get("violations", []),
            "findings": outcome.get("findings", []),
            "suppressed": outcome.get("suppressed", []),
            "unfixed_ignored": outcome.get("unfixed_ignored", 0),
            "scanned_at": outcome["occurred_at"],
            "reports": {} if skipped else reports,
            "sbom": sbom,
        }
    )


def _last_scan(runtime: RuntimeDep, run_id: str, service: str) -> dict[str, Any] | None:
    found, after, page = None, "-", 1000
    while True:
        entries = runtime.event_log.for_run(run_id, after=after, count=page)
        for _, event in entries:
            if event.get("type") in ("ScanPassed", "ScanFailed") and event["service"] == service:
                found = event
        if len(entries) < page:
            return found
        after = entries[-1][0]

"""Trivy's JSON report → typed findings. Pure."""

from __future__ import annotations

import copy
from collections import Counter
from typing import Any

from services.common.errors import PermanentError
from services.common.events import Finding
from services.common.scan_rules import SEVERITIES

TITLE_LIMIT = 200


def findings_from_report(report: dict[str, Any]) -> list[Finding]:
    try:
        return _findings(report)
    except (AttributeError, TypeError, ValueError) as exc:
        raise PermanentError(f"trivy report has an unexpected shape: {exc}") from None


def _findings(report: dict[str, Any]) -> list[Finding]:
    if not isinstance(report, dict) or not isinstance(report.get("Results", []), list):
        raise PermanentError("trivy report is not the JSON object expected (no Results list)")
    findings: list[Finding] = []
    for result in report.get("Results") or []:
        target = str(result.get("Target", ""))
        lockfile = target if result.get("Class") == "lang-pkgs" and "/" in target else ""
        for vuln in result.get("Vulnerabilities") or []:
            findings.append(
                Finding(
                    kind="vulnerability",
                    id=str(vuln.get("VulnerabilityID", "?")),
                    severity=_severity(vuln.get("Severity")),
                    title=_title(vuln),
                    package=str(vuln.get("PkgName", "")),
                    installed_version=str(vuln.get("InstalledVersion", "")),
                    fixed_version=str(vuln.get("FixedVersion") or ""),
                    target=target,
                    file=str(vuln.get("PkgPath") or lockfile),
                    url=str(vuln.get("PrimaryURL") or ""),
                )
            )
        for secret in result.get("Secrets") or []:
            line = _line(secret.get("StartLine"))
            findings.append(
                Finding(
                    kind="secret",
                    id=str(secret.get("RuleID", "?")),
                    severity=_severity(secret.get("Severity")),
                    title=str(secret.get("Title", ""))[:TITLE_LIMIT],
                    target=f"{target}:{line}" if line else target,
                    file=target,
                    line=line,
                )
            )
        for misconfig in result.get("Misconfigurations") or []:
            if str(misconfig.get("Status", "FAIL")).upper() != "FAIL":
                continue  # successes, when Trivy was asked to list them
            cause = misconfig.get("CauseMetadata") or {}
            findings.append(
                Finding(
                    kind="misconfiguration",
                    id=str(misconfig.get("ID", "?")),
                    severity=_severity(misconfig.get("Severity")),
                    title=_title(misconfig),
                    target=target,
                    file=target,
                    line=_line(cause.get("StartLine")),
                    url=str(misconfig.get("PrimaryURL") or ""),
                )
            )
    return findings


def count_by_severity(findings: list[Finding]) -> dict[str, int]:
    counts: Counter[str] = Counter(f.severity for f in findings)
    return {severity: counts.get(severity, 0) for severity in SEVERITIES}


def without_secret_context(report: dict[str, Any]) -> dict[str, Any]:
    """The report to keep: Trivy masks the secret it matched, but prints the lines around it
    as they are; those may hold secrets no rule knows, so only the matching lines stay."""
    kept = copy.deepcopy(report)
    for result in kept.get("Results") or []:
        for secret in result.get("Secrets") or []:
            code = secret.get("Code")
            if isinstance(code, dict) and isinstance(code.get("Lines"), list):
                code["Lines"] = [
                    line for line in code["Lines"] if isinstance(line, dict) and line.get("IsCause")
                ]
    return kept


def _title(entry: dict[str, Any]) -> str:
    return str(entry.get("Title") or entry.get("Description") or "")[:TITLE_LIMIT]


def _line(value: object) -> int | None:
    return value if isinstance(value, int) and value > 0 else None


def _severity(value: object) -> Any:
    text = str(value or "UNKNOWN").upper()
    return text if text in SEVERITIES else "UNKNOWN"

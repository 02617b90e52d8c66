"""Trivy's JSON report → typed findings. Pure."""

from __future__ import annotations

from collections import Counter
from typing import Any

from services.common.errors import PermanentError
from services.common.events import Finding

SEVERITIES = ("UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL")


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
        for vuln in result.get("Vulnerabilities") or []:
            findings.append(
                Finding(
                    kind="vulnerability",
                    id=str(vuln.get("VulnerabilityID", "?")),
                    severity=_severity(vuln.get("Severity")),
                    title=str(vuln.get("Title", ""))[:200],
                    package=str(vuln.get("PkgName", "")),
                    installed_version=str(vuln.get("InstalledVersion", "")),
                    fixed_version=str(vuln.get("FixedVersion", "")),
                    target=target,
                )
            )
        for secret in result.get("Secrets") or []:
            line = secret.get("StartLine")
            findings.append(
                Finding(
                    kind="secret",
                    id=str(secret.get("RuleID", "?")),
                    severity=_severity(secret.get("Severity")),
                    title=str(secret.get("Title", "")),
                    target=f"{target}:{line}" if line else target,
                )
            )
        for misconfig in result.get("Misconfigurations") or []:
            findings.append(
                Finding(
                    kind="misconfiguration",
                    id=str(misconfig.get("ID", "?")),
                    severity=_severity(misconfig.get("Severity")),
                    title=str(misconfig.get("Title", ""))[:200],
                    target=target,
                )
            )
    return findings


def count_by_severity(findings: list[Finding]) -> dict[str, int]:
    counts: Counter[str] = Counter(f.severity for f in findings)
    return {severity: counts.get(severity, 0) for severity in SEVERITIES}


def _severity(value: object) -> Any:
    text = str(value or "UNKNOWN").upper()
    return text if text in SEVERITIES else "UNKNOWN"

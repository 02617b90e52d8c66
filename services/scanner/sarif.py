"""Findings → SARIF 2.1.0, limited to what the policy looks at. Pure.

Unlike Trivy's own SARIF output (which ignores the severity filter), this holds every
secret and the findings of the severities the policy limits, leaving out unfixed
vulnerabilities when the policy ignores them. Allowlisted findings stay in, marked with
an accepted suppression that carries the entry's reason and expiry.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from services.common.events import Finding
from services.scanner.policy import Policy

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVELS = {"CRITICAL": "error", "HIGH": "error", "MEDIUM": "warning", "LOW": "note"}
# GitHub code scanning reads this property: 9.0+ critical, 7.0+ high, 4.0+ medium, else low.
SECURITY_SEVERITY = {"CRITICAL": "9.5", "HIGH": "8.0", "MEDIUM": "5.5", "LOW": "2.0"}


def in_scope(finding: Finding, policy: Policy) -> bool:
    if finding.kind == "secret":
        return True
    return finding.severity in policy.severities and policy.counts(finding)


def to_sarif(findings: list[Finding], policy: Policy, today: date, artifact: str) -> dict[str, Any]:
    kept = [f for f in findings if in_scope(f, policy)]
    rule_ids = list(dict.fromkeys(f.id for f in kept))
    first = {rule_id: next(f for f in kept if f.id == rule_id) for rule_id in rule_ids}
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "Trivy",
                        "informationUri": "https://github.com/aquasecurity/trivy",
                        "rules": [_rule(first[rule_id]) for rule_id in rule_ids],
                    }
                },
                "results": [
                    _result(f, rule_ids.index(f.id), policy, today, artifact) for f in kept
                ],
                "properties": {"artifact": artifact, "policy": policy.describe()},
            }
        ],
    }


def _rule(finding: Finding) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "id": finding.id,
        "name": finding.kind,
        "shortDescription": {"text": finding.title or finding.id},
        "defaultConfiguration": {"level": LEVELS.get(finding.severity, "note")},
        "properties": {
            "tags": ["security", finding.kind, finding.severity],
            "security-severity": SECURITY_SEVERITY.get(finding.severity, "0.0"),
        },
    }
    if finding.url:
        rule["helpUri"] = finding.url
    return rule


def _result(
    finding: Finding, index: int, policy: Policy, today: date, artifact: str
) -> dict[str, Any]:
    region = {"startLine": finding.line or 1}
    uri = finding.file.lstrip("/") or artifact
    result: dict[str, Any] = {
        "ruleId": finding.id,
        "ruleIndex": index,
        "level": LEVELS.get(finding.severity, "note"),
        "message": {"text": finding.describe()},
        "locations": [{"physicalLocation": {"artifactLocation": {"uri": uri}, "region": region}}],
        "properties": {
            "severity": finding.severity,
            "package": finding.package,
            "installedVersion": finding.installed_version,
            "fixedVersion": finding.fixed_version,
            "target": finding.target,
        },
    }
    allowance = policy.allowance_for(finding, today)
    if allowance is not None and not allowance.expired:
        result["suppressions"] = [
            {
                "kind": "external",
                "status": "accepted",
                "justification": f"{allowance.reason} (until {allowance.expires.isoformat()}, "
                f"{allowance.origin})",
            }
        ]
    return result

"""The gate: findings + policy → ScanPassed or ScanFailed, explained. Pure.

How a finding is judged, in this order:

1. an allowlist entry with its ID (and, when the entry has a ``path``, a matching file) that
   has not expired accepts it: it is reported as suppressed and counts for nothing. An
   expired entry accepts nothing, and the finding says that its entry expired;
2. a secret blocks, whatever its severity, unless the policy allows secrets;
3. with ``ignore_unfixed``, a vulnerability without a fixed version is left out;
4. every other finding counts against its severity's budget: ``max_counts[severity]`` when
   set, else 0 for the ``block_severities``, else no limit. Over budget, every counted
   finding of that severity breaks the policy.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from fnmatch import fnmatchcase
from typing import Any

from services.common.events import Allowance, Finding, ImagePushed, ScanFailed, ScanPassed
from services.common.project import Project
from services.common.scan_rules import SEVERITIES, ScanRules
from services.common.settings import ScannerSettings
from services.scanner.report import count_by_severity


@dataclass(frozen=True)
class Policy:
    block_severities: frozenset[str] = frozenset({"CRITICAL"})
    max_counts: Mapping[str, int] = field(default_factory=dict)
    ignore_unfixed: bool = False
    allow_secrets: bool = False
    allowlist: tuple[Allowance, ...] = ()
    sources: tuple[str, ...] = ()  # where its rules come from, for people

    def budget(self, severity: str) -> int | None:
        """How many counted findings of this severity pass; None: any number."""
        if severity in self.max_counts:
            return self.max_counts[severity]
        return 0 if severity in self.block_severities else None

    @property
    def severities(self) -> frozenset[str]:
        """The severities the policy limits: those of its reports (SARIF)."""
        return self.block_severities | frozenset(self.max_counts)

    def allowance_for(self, finding: Finding, today: date) -> Allowance | None:
        """The entry that accepts the finding; else an expired one that would have; else None."""
        matches = [entry for entry in self.allowlist if _matches(entry, finding)]
        for entry in matches:
            if today <= entry.expires:
                return entry
        return matches[0].model_copy(update={"expired": True}) if matches else None

    def counts(self, finding: Finding) -> bool:
        """Whether a finding that no entry accepts counts against the severity budgets."""
        if finding.kind == "secret":
            return False  # secrets are judged on their own
        return not (self.ignore_unfixed and _unfixed(finding))

    def describe(self) -> str:
        parts = ["secrets allowed" if self.allow_secrets else "any secret blocks"]
        blocked = [s for s in reversed(SEVERITIES) if self.budget(s) == 0]
        if blocked:
            parts.append(f"{'/'.join(blocked)} findings block")
        for severity in reversed(SEVERITIES):
            budget = self.budget(severity)
            if budget:
                parts.append(f"more than {budget} {severity} block")
        if self.ignore_unfixed:
            parts.append("unfixed vulnerabilities ignored")
        if self.allowlist:
            parts.append(_many(len(self.allowlist), "allowlist entry", "allowlist entries"))
        text = "; ".join(parts)
        return f"{text} (from {', '.join(self.sources)})" if self.sources else text


Layer = tuple[str, str, ScanRules | None]  # (source, its allowlist, rules)


def policy_for(settings: ScannerSettings, project: Project | None, service: str) -> Policy:
    """The server's policy, overridden by shipline.yaml's top-level, then the service's `scan:`."""
    return _merged(_service_layers(settings, project, service))


def environment_policy(
    settings: ScannerSettings, project: Project | None, service: str, environment: str
) -> Policy:
    """The policy for the service's images deployed to or promoted into `environment`: the
    service's, overridden by the environment's `scan:` (shipline.yaml `environments[].scan`);
    the service's own when the environment has none."""
    named = [env for env in project.environments if env.name == environment] if project else []
    rules = named[0].scan if named else None
    if rules is None:
        return policy_for(settings, project, service)
    where = f"shipline.yaml environments.{environment}.scan"
    return _merged(
        [*_service_layers(settings, project, service), (where, f"{where}.allowlist", rules)]
    )


def fingerprint(policy: Policy) -> str:
    """What the policy decides by, whatever its rules' sources: equal policies, equal prints."""
    rules = {
        "block_severities": sorted(policy.block_severities),
        "max_counts": dict(sorted(policy.max_counts.items())),
        "ignore_unfixed": policy.ignore_unfixed,
        "allow_secrets": policy.allow_secrets,
        "allowlist": sorted(
            entry.model_dump_json(include={"id", "reason", "expires", "path"})
            for entry in policy.allowlist
        ),
    }
    return hashlib.sha256(json.dumps(rules, sort_keys=True).encode()).hexdigest()


def _service_layers(
    settings: ScannerSettings, project: Project | None, service: str
) -> list[Layer]:
    spec = project.services.get(service) if project else None
    return [
        ("server settings", "server settings scanner.allowlist", _server_rules(settings)),
        ("shipline.yaml scan", "shipline.yaml scan.allowlist", project.scan if project else None),
        (
            f"shipline.yaml services.{service}.scan",
            f"shipline.yaml services.{service}.scan.allowlist",
            spec.scan if spec else None,
        ),
    ]


def _merged(layers: list[Layer]) -> Policy:
    merged: dict[str, Any] = {"max_counts": {}, "allowlist": [], "sources": []}
    for source, allowlist, rules in layers:
        if rules is None:
            continue
        merged["sources"].append(source)
        for key in ("block_severities", "ignore_unfixed", "allow_secrets"):
            value = getattr(rules, key)
            if value is not None:
                merged[key] = value
        merged["max_counts"].update(rules.max_counts or {})
        merged["allowlist"] += [
            Allowance(origin=allowlist, **entry.model_dump()) for entry in rules.allowlist
        ]
    return Policy(
        block_severities=frozenset(merged["block_severities"]),
        max_counts=merged["max_counts"],
        ignore_unfixed=merged["ignore_unfixed"],
        allow_secrets=merged["allow_secrets"],
        allowlist=tuple(merged["allowlist"]),
        sources=tuple(merged["sources"]),
    )


def _server_rules(settings: ScannerSettings) -> ScanRules:
    return ScanRules(
        block_severities=tuple(settings.block_severities),
        ignore_unfixed=settings.ignore_unfixed,
        max_counts=settings.max_counts,
        allow_secrets=settings.allow_secrets,
        allowlist=tuple(settings.allowlist),
    )


@dataclass(frozen=True)
class Verdict:
    breaking: tuple[Finding, ...]
    violations: tuple[str, ...]
    suppressed: tuple[Finding, ...]
    unfixed_ignored: int


def judge(findings: list[Finding], policy: Policy, today: date) -> Verdict:
    suppressed: list[Finding] = []
    secrets: list[Finding] = []
    counted: dict[str, list[Finding]] = {severity: [] for severity in SEVERITIES}
    unfixed = 0
    for finding in findings:
        allowance = policy.allowance_for(finding, today)
        if allowance is not None:
            finding = finding.model_copy(update={"allowance": allowance})
            if not allowance.expired:
                suppressed.append(finding)
                continue
        if finding.kind == "secret":
            if not policy.allow_secrets:
                secrets.append(finding)
        elif policy.counts(finding):
            counted[finding.severity].append(finding)
        else:
            unfixed += 1
    breaking, violations = list(secrets), []
    if secrets:
        violations.append(f"{_many(len(secrets), 'secret')} found (secrets always block)")
    for severity in reversed(SEVERITIES):
        budget, found = policy.budget(severity), counted[severity]
        if budget is None or len(found) <= budget:
            continue
        breaking += found
        if budget == 0:
            violations.append(f"{_many(len(found), severity + ' finding')} ({severity} blocks)")
        else:
            violations.append(f"{len(found)} {severity} findings, more than the {budget} allowed")
    for finding in breaking:
        if finding.allowance is not None:  # expired, or it would not be breaking
            violations.append(
                f"allowlist entry {finding.allowance.id} ({finding.allowance.origin}) "
                f"expired {finding.allowance.expires.isoformat()}"
            )
    return Verdict(tuple(breaking), tuple(dict.fromkeys(violations)), tuple(suppressed), unfixed)


def decide(
    image: ImagePushed,
    findings: list[Finding],
    policy: Policy,
    today: date,
    *,
    report_location: str = "",
    sarif_location: str = "",
) -> ScanPassed | ScanFailed:
    verdict = judge(findings, policy, today)
    common: dict[str, Any] = {
        **_about(image),
        "counts": count_by_severity(findings),
        "policy": policy.describe(),
        "report_location": report_location,
        "sarif_location": sarif_location,
        "suppressed": verdict.suppressed,
        "unfixed_ignored": verdict.unfixed_ignored,
    }
    if verdict.breaking:
        return ScanFailed(
            event_id=image.follow_up_id("ScanFailed"),
            findings=verdict.breaking,
            violations=verdict.violations,
            **common,
        )
    return ScanPassed(event_id=image.follow_up_id("ScanPassed"), **common)


def bypass(image: ImagePushed) -> ScanPassed:
    """The image goes on unscanned, because a person asked for it (ImagePushed.skip_scan)."""
    if image.skip_scan is None:
        raise ValueError("the image did not ask to skip the scan")
    skip = image.skip_scan
    return ScanPassed(
        event_id=image.follow_up_id("ScanPassed"),
        **_about(image),
        counts={},
        policy=f"scan skipped by {skip.by}: {skip.reason}",
        skipped=skip,
    )


def _about(image: ImagePushed) -> dict[str, Any]:
    return {
        "run_id": image.run_id,
        "service": image.service,
        "source": image.source,
        "image_repository": image.image_repository,
        "tags": image.tags,
        "digest": image.digest,
    }


def _matches(entry: Allowance, finding: Finding) -> bool:
    if entry.id.lower() != finding.id.lower():
        return False
    return entry.path is None or fnmatchcase(finding.file.lstrip("/"), entry.path.lstrip("/"))


def _unfixed(finding: Finding) -> bool:
    return finding.kind == "vulnerability" and not finding.fixed_version


def _many(count: int, noun: str, plural: str | None = None) -> str:
    return f"{count} {noun if count == 1 else plural or noun + 's'}"

"""The gate: findings + policy → ScanPassed or ScanFailed. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.common.events import Finding, ImagePushed, ScanFailed, ScanPassed
from services.scanner.report import count_by_severity


@dataclass(frozen=True)
class Policy:
    block_severities: frozenset[str] = frozenset({"CRITICAL"})
    secrets_block: bool = True

    def describe(self) -> str:
        parts = []
        if self.secrets_block:
            parts.append("any secret blocks")
        if self.block_severities:
            parts.append(f"vulnerabilities of {'/'.join(sorted(self.block_severities))} block")
        return "; ".join(parts) or "nothing blocks"

    def blocks(self, finding: Finding) -> bool:
        if finding.kind == "secret":
            return self.secrets_block
        return finding.severity in self.block_severities


def decide(
    image: ImagePushed, findings: list[Finding], policy: Policy, report_location: str
) -> ScanPassed | ScanFailed:
    blocking = tuple(f for f in findings if policy.blocks(f))
    common: dict[str, Any] = {
        "run_id": image.run_id,
        "service": image.service,
        "source": image.source,
        "image_repository": image.image_repository,
        "tags": image.tags,
        "digest": image.digest,
        "counts": count_by_severity(findings),
        "policy": policy.describe(),
        "report_location": report_location,
    }
    if blocking:
        return ScanFailed(event_id=image.follow_up_id("ScanFailed"), findings=blocking, **common)
    return ScanPassed(event_id=image.follow_up_id("ScanPassed"), **common)

"""What a scan found, as the scan events carry it: findings, and the allowlist entries that
accepted them (re-exported by services/common/events.py)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Allowance(_Value):
    """The allowlist entry of the scan policy that matched a finding, and where it is set."""

    id: str
    reason: str
    expires: date
    path: str | None = None
    origin: str = ""  # e.g. "shipline.yaml services.user-service.scan.allowlist"
    expired: bool = False  # True: the entry no longer applies, the finding counts again


class Finding(_Value):
    """One scanner result: a vulnerability, a secret or a misconfiguration."""

    kind: Literal["vulnerability", "secret", "misconfiguration"]
    id: str
    severity: Literal["UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL"]
    title: str = ""
    package: str = ""
    installed_version: str = ""
    fixed_version: str = ""
    target: str = ""  # where, for people: "<file>:<line>" for secrets, Trivy's target otherwise
    file: str = ""  # the file in the image (secrets, misconfigurations, language packages)
    line: int | None = None
    url: str = ""
    allowance: Allowance | None = None

    def describe(self) -> str:
        if self.kind == "secret":
            text = f"{self.severity} secret {self.id} in {self.target}"
        elif self.kind == "misconfiguration":
            text = f"{self.severity} misconfiguration {self.id} ({self.title}) in {self.target}"
        else:
            fix = f", fixed in {self.fixed_version}" if self.fixed_version else ", no fix yet"
            text = f"{self.severity} {self.id} in {self.package} {self.installed_version}{fix}"
        if self.allowance is not None and self.allowance.expired:
            text += (
                f" (allowlist entry expired {self.allowance.expires.isoformat()}:"
                f" {self.allowance.reason})"
            )
        return text

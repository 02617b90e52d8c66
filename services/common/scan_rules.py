"""The configuration vocabulary of the scan policy, shared by the server settings (global
policy) and ``shipline.yaml`` (``scan:`` blocks that override it, top level and per service).

Only the shape is checked here; what the rules mean is the scanner's business.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

Severity = Literal["UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL"]
SEVERITIES: tuple[Severity, ...] = ("UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL")
_GLOB_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/*?[]")


def _reason(value: str) -> str:
    value = value.strip()
    if len(value) < 3:
        raise ValueError("must say why the finding is accepted (3+ characters)")
    return value


def _glob(value: str) -> str:
    if not value or not set(value) <= _GLOB_CHARS or ".." in value.split("/"):
        raise ValueError("must be a file path or glob (letters, digits, . _ - / * ? [ ])")
    return value


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AllowEntry(_Section):
    """One accepted finding: its ID (CVE, secret rule, check), why, and until when."""

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:+/-]{0,127}$")
    reason: Annotated[str, Field(max_length=500), AfterValidator(_reason)]
    expires: date  # the last day the entry applies; from the day after, the finding counts again
    path: Annotated[str, AfterValidator(_glob)] | None = None  # only findings in matching files


MaxCounts = dict[Severity, Annotated[int, Field(ge=0)]]


class ScanRules(_Section):
    """A ``scan:`` block of shipline.yaml. Keys left out inherit from the level above
    (service ← top level ← server settings); allowlists add up."""

    block_severities: tuple[Severity, ...] | None = None
    ignore_unfixed: bool | None = None
    max_counts: MaxCounts | None = None
    allow_secrets: bool | None = None
    allowlist: tuple[AllowEntry, ...] = ()

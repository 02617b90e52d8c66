"""What a check found: one line, and what to do when it is not ok."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict

Status = Literal["ok", "warn", "fail"]


class CheckResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str  # e.g. "redis", "registry 127.0.0.1:5000", "gitops acme/deploy@main"
    status: Status
    detail: str  # one line: what was found
    fix: str | None = None  # one line: what to do (warn and fail)


def ok(name: str, detail: str) -> CheckResult:
    return CheckResult(name=name, status="ok", detail=detail)


def warn(name: str, detail: str, fix: str) -> CheckResult:
    return CheckResult(name=name, status="warn", detail=detail, fix=fix)


def fail(name: str, detail: str, fix: str) -> CheckResult:
    return CheckResult(name=name, status="fail", detail=detail, fix=fix)


def broken(results: Sequence[CheckResult]) -> bool:
    """Something a deploy needs does not work (warnings alone are not broken)."""
    return any(result.status == "fail" for result in results)

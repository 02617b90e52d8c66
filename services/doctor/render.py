"""Doctor's output: one line per check (text), or one JSON document for scripts."""

from __future__ import annotations

import json
from collections.abc import Sequence

from services.doctor.result import CheckResult, broken

_MARK = {"ok": "ok", "warn": "WARN", "fail": "FAIL"}


def as_text(results: Sequence[CheckResult]) -> str:
    """`STATUS  name  detail  -> what to do`, aligned, then a one-line summary."""
    width = max((len(result.name) for result in results), default=0)
    lines = []
    for result in results:
        line = f"{_MARK[result.status]:<4}  {result.name:<{width}}  {result.detail}"
        if result.fix and result.status != "ok":
            line += f"  -> {result.fix}"
        lines.append(line)
    lines.append(summary(results))
    return "\n".join(lines)


def summary(results: Sequence[CheckResult]) -> str:
    counts = {status: sum(r.status == status for r in results) for status in ("fail", "warn", "ok")}
    verdict = "broken" if broken(results) else "ready"
    return f"{verdict}: {counts['fail']} failed, {counts['warn']} warnings, {counts['ok']} ok"


def as_json(results: Sequence[CheckResult]) -> str:
    return json.dumps(
        {
            "status": "broken" if broken(results) else "ok",
            "checks": [result.model_dump() for result in results],
        },
        indent=2,
    )

"""What people are told: one readable summary and a JSON body per event. Pure."""

from __future__ import annotations

from typing import Any

from services.common.events import (
    Envelope,
    ManifestCommitted,
    RunCompleted,
    ScanFailed,
    StageFailed,
)

ICONS = {"succeeded": "✅", "failed": "❌", "blocked": "⛔", "skipped": "⏭"}


def summary(event: Envelope) -> str:
    match event:
        case RunCompleted():
            head = f"{ICONS.get(event.status, '')} run {event.run_id} {event.status}"
            where = f" for {event.repository}@{event.commit[:7]}" if event.commit else ""
            lines = [f"{head}{where} in {event.seconds:.1f}s"]
            for name, outcome in sorted(event.services.items()):
                detail = outcome.image or ""
                if outcome.status != "succeeded" and outcome.reason:
                    detail = outcome.reason
                lines.append(f"  {ICONS.get(outcome.status, '')} {name}: {outcome.status} {detail}")
            return "\n".join(lines)
        case ManifestCommitted():
            return (
                f"{event.service}: {event.old_image} → {event.new_image} "
                f"committed {event.gitops_commit[:7]} to {event.branch}"
            )
        case ScanFailed():
            found = "; ".join(f.describe() for f in event.findings)
            return f"{event.service}: {event.image} blocked by the scan: {found}"
        case StageFailed():
            where = f"{event.service} " if event.service else ""
            return f"{where}{event.stage} failed: {event.error_class}: {event.message}"
    return f"{event.type}"


def body(event: Envelope) -> dict[str, Any]:
    """The webhook JSON: the event itself, plus its run id, status and the summary text."""
    data = event.model_dump(mode="json")
    status = getattr(event, "status", None) or _status_of(event)
    return {"run_id": event.run_id, "status": status, "text": summary(event), "event": data}


def _status_of(event: Envelope) -> str:
    match event:
        case ScanFailed():
            return "blocked"
        case StageFailed():
            return "failed"
    return "succeeded"

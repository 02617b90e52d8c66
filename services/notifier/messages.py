"""What people are told: one readable summary and a JSON body per event. Pure.

The environment an event is in (event_environment.py), when one is known, leads the summary
(`[production] ...`) and is the webhook body's `environment`; without one, both read as they
did before environments existed.
"""

from __future__ import annotations

from typing import Any

from services.common.events import (
    BuildSuperseded,
    DeploymentFailed,
    DeploymentSkipped,
    DeploymentVerified,
    Envelope,
    ManifestCommitted,
    PullRequestOpened,
    RunCompleted,
    ScanFailed,
    StageFailed,
    Unpinned,
)
from services.common.run_records import status_with_reason

ICONS = {
    "succeeded": "✅",
    "failed": "❌",
    "blocked": "⛔",
    "held": "⏸",
    "skipped": "⏭",
    "superseded": "⏩",
    "rejected": "🚫",
    "awaiting-merge": "⏳",
}


def summary(event: Envelope, environment: str | None = None) -> str:
    text = _summary(event)
    return f"[{environment}] {text}" if environment else text


def _summary(event: Envelope) -> str:
    match event:
        case RunCompleted():
            head = f"{ICONS.get(event.status, '')} run {event.run_id} {event.status}"
            where = f" for {event.repository}@{event.commit[:7]}" if event.commit else ""
            lines = [f"{head}{where} in {event.seconds:.1f}s"]
            if event.requested_by:
                lines.append(f"  asked by {event.requested_by}")
            for name, outcome in sorted(event.services.items()):
                line = f"{outcome.status} {outcome.image or ''}".rstrip()
                if outcome.status != "succeeded" and outcome.reason:
                    line = status_with_reason(outcome.status, outcome.reason)
                if outcome.scan_skipped is not None:
                    skip = outcome.scan_skipped
                    line += f" ⚠ scan SKIPPED by {skip.by}: {skip.reason}"
                lines.append(f"  {ICONS.get(outcome.status, '')} {name}: {line}")
            if event.release_notes:
                lines += ["", event.release_notes.rstrip()]
            return "\n".join(lines)
        case ManifestCommitted():
            return (
                f"{event.service}: {event.old_image} → {event.new_image} "
                f"committed {event.gitops_commit[:7]} to {event.branch}"
            )
        case ScanFailed():
            return f"{event.service}: {event.image} blocked by the scan: {event.explain()}"
        case BuildSuperseded():
            return (
                f"{event.service}: build of {event.source.short_sha} superseded by "
                f"{event.newer_commit[:7]} on {event.source.ref}"
            )
        case DeploymentSkipped():
            return f"{event.service}: {event.image} not deployed, {event.reason}"
        case DeploymentVerified():
            what = "rollback to " if event.kind == "rollback" else ""
            return (
                f"{event.service}: {what}{event.image} healthy in {event.cluster} "
                f"({event.ready_replicas} ready), {event.seconds:.0f}s after the push"
            )
        case DeploymentFailed():
            then = (
                f"; rolling back to the previous image ({event.old_image})"
                if event.auto_rollback
                else ""
            )
            return f"{event.service}: {event.image} failed in {event.cluster}: {event.reason}{then}"
        case PullRequestOpened():
            return (
                f"{event.service}: promotion to {event.environment} awaits the merge of {event.url}"
            )
        case Unpinned() if event.image:
            return (
                f"{event.service}: unpinned{_in(event.environment)} from {event.image}, committed "
                f"{event.gitops_commit[:7]} to {event.branch}; automatic deploys resume"
            )
        case Unpinned():
            where = _in(event.environment)
            return f"{event.service}: was not pinned{where}; automatic deploys go through"
        case StageFailed():
            where = f"{event.service} " if event.service else ""
            return f"{where}{event.stage} failed: {event.error_class}: {event.message}"
    return f"{event.type}"


def body(event: Envelope, environment: str | None = None) -> dict[str, Any]:
    """The webhook JSON: the event itself, plus its run id, status and the summary text, and
    the environment it is in when one is known."""
    data = event.model_dump(mode="json")
    text = summary(event, environment)
    where = {"environment": environment} if environment else {}
    return {"run_id": event.run_id, "status": outcome(event), "text": text, **where, "event": data}


def outcome(event: Envelope) -> str:
    """What happened, as routing and the webhook's ``status`` name it: succeeded, blocked, ..."""
    return getattr(event, "status", None) or _status_of(event)


def _status_of(event: Envelope) -> str:
    match event:
        case ScanFailed():
            return "blocked"
        case StageFailed():
            return "failed"
        case BuildSuperseded():
            return "superseded"
        case DeploymentSkipped():
            return event.outcome
        case DeploymentFailed():
            return "failed"
        case PullRequestOpened():
            return "awaiting-merge"
    return "succeeded"


def _in(environment: str | None) -> str:
    return f" in {environment}" if environment else ""

"""What a run's records hold: the fields an event adds, a service's record as read back,
and the summaries made from them (a service's outcome, the run's overall status, the images
a release deploys). Pure: no Redis here."""

from __future__ import annotations

from typing import Any

from services.common.events import (
    PushReceived,
    ReleaseImage,
    RunStatus,
    ScanBypass,
    ServiceOutcome,
    Source,
)
from services.common.run_models import ServiceRecord, StageTiming

FINAL_SERVICE_STATUSES = (
    "succeeded",
    "failed",
    "blocked",
    "skipped",
    "superseded",
    "held",
    "rejected",
)
STAGE_ORDER = ("detector", "builder", "scanner", "committer", "verifier", "notifier")


def run_record(
    run_id: str, trigger: str, created_at: float, fields: dict[str, str]
) -> dict[str, str | float]:
    """A new run's hash: queued, by what, when, and the trigger's own fields."""
    return {
        "run_id": run_id,
        "status": "queued",
        "trigger": trigger,
        "created_at": created_at,
        **fields,
    }


def push_fields(push: PushReceived, received_at: float) -> dict[str, str | float]:
    """What a PushReceived adds to its run's hash."""
    return {"received_at": received_at, "message": head_subject(push)}


def head_subject(push: PushReceived) -> str:
    """The first line of the pushed head commit's message ("" when the host sent none)."""
    head = next((c for c in push.commits if c.id == push.after), None)
    if head is None and push.commits:
        head = push.commits[-1]
    return head.message.strip().split("\n", 1)[0][:200] if head else ""


def release_fields(source: Source) -> dict[str, str]:
    """What a release's ChangeDetected adds to its run's hash: the version and its tag."""
    return {
        "release": source.ref.removeprefix("refs/tags/"),
        "release_repository": source.repository,
        "release_commit": source.commit,
        "release_ref": source.ref,
    }


def service_record(raw: dict[str, str]) -> ServiceRecord:
    """A service's hash as read back: its fields, per-stage timings in stage order, and the
    seconds from its first start to its last finish."""
    marks: dict[str, dict[str, float]] = {}
    fields: dict[str, Any] = {}
    for key, value in raw.items():
        if key.startswith("t."):
            _, stage, edge = key.split(".")
            marks.setdefault(stage, {})[edge] = float(value)
        else:
            fields[key] = value
    timings = {s: _timing(marks[s]) for s in STAGE_ORDER if s in marks}
    starts = [t.started for t in timings.values() if t.started is not None]
    ends = [t.finished for t in timings.values() if t.finished is not None]
    seconds = round(max(ends) - min(starts), 3) if starts and ends else 0.0
    return ServiceRecord.model_validate(
        {**fields, "timings": timings, "seconds": seconds, "cached": fields.get("cached") == "1"}
    )


def _timing(marks: dict[str, float]) -> StageTiming:
    started, finished = marks.get("started"), marks.get("finished")
    if started is None or finished is None:
        return StageTiming(started=started, finished=finished)
    return StageTiming(started=started, finished=finished, seconds=round(finished - started, 3))


def service_outcome(service: ServiceRecord) -> ServiceOutcome:
    """How a service ended, from its record; one not ended by now counts as failed."""
    status = service.status
    return ServiceOutcome(
        status=status if status in FINAL_SERVICE_STATUSES else "failed",
        image=service.image,
        digest=service.digest,
        reason=service.reason,
        seconds=service.seconds,
        scan_skipped=scan_skipped(service),
        scan=service.scan or "",
    )


def release_images(
    services: dict[str, ServiceRecord],
) -> tuple[dict[str, ReleaseImage], dict[str, str]]:
    """The image each service of a release deploys, and why the others hold it back."""
    images, held = {}, {}
    for name, svc in services.items():
        if svc.status in FINAL_SERVICE_STATUSES or not svc.digest:
            held[name] = f"{svc.status}: {svc.reason or 'no image'}"
            continue
        images[name] = ReleaseImage(
            image_repository=svc.image_repository or svc.image.rsplit(":", 1)[0],
            tag=svc.image.rsplit(":", 1)[1],
            digest=svc.digest,
        )
    return images, held


def scan_skipped(service: ServiceRecord) -> ScanBypass | None:
    if not service.scan_skipped_by:
        return None
    reason = service.scan_skip_reason or "not recorded"
    return ScanBypass(by=service.scan_skipped_by, reason=reason)


def scan_summary(verdict: str, counts: dict[str, int]) -> str:
    """E.g. "passed: 2 HIGH, 1 MEDIUM" or "passed, no findings"; most severe first."""
    order = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN")
    ranked = sorted(counts, key=lambda s: (order.index(s) if s in order else len(order), s))
    found = [f"{counts[s]} {s}" for s in ranked if counts[s]]
    return f"{verdict}: {', '.join(found)}" if found else f"{verdict}, no findings"


def overall_status(outcomes: dict[str, ServiceOutcome], run_failed: bool = False) -> RunStatus:
    statuses = {o.status for o in outcomes.values()}
    if run_failed or "failed" in statuses:
        return "failed"
    if "blocked" in statuses:
        return "blocked"
    if "rejected" in statuses:
        return "rejected"
    if not outcomes:
        return "skipped"
    if statuses == {"superseded"}:
        return "superseded"
    if statuses <= {"superseded", "held"}:
        return "held"
    return "succeeded"


def status_with_reason(status: str, reason: str) -> str:
    """A service's status and why, as one phrase: `held: pinned to …`, never `held held: …`
    (a reason that opens with its own status word is shown as it is)."""
    if not reason:
        return status
    first_word = reason.split(maxsplit=1)[0].rstrip(":,.;")
    return reason if first_word == status else f"{status} {reason}"

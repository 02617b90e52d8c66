"""The run store: a projection of the events onto each run's status, kept in Redis.

A run is everything one trigger caused. Each service of a run has a hash with its stage,
status, image, digest, reason and per-stage start/finish times. Every update is an
idempotent HSET/SADD, so a redelivered event applied twice changes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import redis

from services.common.events import (
    BuildSuperseded,
    ChangeDetected,
    DeploymentFailed,
    DeploymentSkipped,
    DeploymentVerified,
    Envelope,
    ImagePushed,
    ManifestCommitted,
    PushReceived,
    ReleaseImage,
    ReleaseReady,
    RunCompleted,
    RunStatus,
    ScanBypass,
    ScanFailed,
    ScanPassed,
    ServiceOutcome,
    Source,
    StageFailed,
)

PREFIX = "shipline:run:"
INDEX = "shipline:runs"
FINAL_SERVICE_STATUSES = ("succeeded", "failed", "blocked", "skipped", "superseded", "held")
STAGE_ORDER = ("detector", "builder", "scanner", "committer", "verifier", "notifier")


def run_key(run_id: str) -> str:
    return f"{PREFIX}{run_id}"


def _service_key(run_id: str, service: str) -> str:
    return f"{PREFIX}{run_id}:svc:{service}"


class RunStore:
    def __init__(self, client: redis.Redis) -> None:
        self._redis: Any = client  # redis-py's response types are too loose to check usefully

    # --- writes -------------------------------------------------------------------

    def create(self, run_id: str, trigger: str, **fields: str) -> None:
        now = time.time()
        pipe = self._redis.pipeline()
        pipe.hset(run_key(run_id), mapping=run_record(run_id, trigger, now, fields))
        pipe.zadd(INDEX, {run_id: now})
        pipe.execute()

    def plan(self, run_id: str, services: list[str]) -> None:
        """Record how many services this run fans out to, before any of them starts."""
        detected_from = self._redis.hget(run_key(run_id), "detector.started") or time.time()
        pipe = self._redis.pipeline()
        pipe.hset(run_key(run_id), mapping={"expected": len(services), "status": "running"})
        for service in services:
            key = _service_key(run_id, service)
            pipe.sadd(f"{run_key(run_id)}:services", service)
            pipe.hsetnx(key, "status", "pending")
            pipe.hsetnx(key, "stage", "detector")
            pipe.hsetnx(key, "t.detector.started", detected_from)
        pipe.execute()

    def stage_started(self, run_id: str, service: str | None, stage: str) -> None:
        now = time.time()
        if service is None:
            self._redis.hsetnx(run_key(run_id), f"{stage}.started", now)
            self._redis.hset(run_key(run_id), "status", "running")
            return
        key = _service_key(run_id, service)
        self._redis.hsetnx(key, f"t.{stage}.started", now)
        self._redis.hset(key, mapping={"stage": stage, "status": "running"})

    def apply(self, event: Envelope) -> RunCompleted | ReleaseReady | None:
        """Project one event; returns the RunCompleted when it finished the run's last service,
        or the ReleaseReady when it was the last scan outcome a release run waited for."""
        completed = self._project(event)
        if completed is None and getattr(event, "service", None):
            return self._release_ready(event)
        return completed

    def _project(self, event: Envelope) -> RunCompleted | None:
        now = time.time()
        match event:
            case PushReceived():
                self._redis.hset(run_key(event.run_id), mapping=push_fields(event, now))
            case ChangeDetected():
                self._set(
                    event.run_id,
                    event.service,
                    "detector",
                    now,
                    image_repository=event.image_repository,
                )
                if event.reason == "release":
                    self._redis.hset(
                        run_key(event.run_id),
                        mapping={
                            "release": event.source.ref.removeprefix("refs/tags/"),
                            "release_repository": event.source.repository,
                            "release_commit": event.source.commit,
                            "release_ref": event.source.ref,
                        },
                    )
            case ImagePushed():
                self._set(
                    event.run_id,
                    event.service,
                    "builder",
                    now,
                    image=event.image,
                    digest=event.digest,
                    cached=int(event.cached),
                )
            case BuildSuperseded():
                reason = f"superseded by {event.newer_commit[:7]}"
                if event.newer_run_id:
                    reason += f" (run {event.newer_run_id})"
                self._set(
                    event.run_id, event.service, "builder", now, status="superseded", reason=reason
                )
                return self._finish_service(event, event.service)
            case ScanPassed():
                skipped = event.skipped
                self._set(
                    event.run_id,
                    event.service,
                    "scanner",
                    now,
                    scan_skipped_by=skipped.by if skipped else None,
                    scan_skip_reason=skipped.reason if skipped else None,
                    scan=None if skipped else scan_summary("passed", event.counts),
                )
            case ScanFailed():
                reason = "blocked by " + event.explain()
                self._set(
                    event.run_id,
                    event.service,
                    "scanner",
                    now,
                    status="blocked",
                    reason=reason,
                    scan=scan_summary("blocked", event.counts),
                )
                return self._finish_service(event, event.service)
            case ManifestCommitted() | DeploymentVerified() | DeploymentFailed():
                return self._project_rollout(event, now)
            case StageFailed():
                reason = f"{event.stage}: {event.error_class}: {event.message}"
                if event.service is None:
                    self._redis.hset(run_key(event.run_id), mapping={"failure": reason})
                    return self._finish_run(event)
                self._set(
                    event.run_id, event.service, event.stage, now, status="failed", reason=reason
                )
                return self._finish_service(event, event.service)
            case DeploymentSkipped():
                self._set(
                    event.run_id,
                    event.service,
                    "committer",
                    now,
                    status=event.outcome,
                    reason=event.reason,
                )
                return self._finish_service(event, event.service)
            case RunCompleted():
                self._redis.hset(
                    run_key(event.run_id),
                    mapping={"status": event.status, "finished_at": now},
                )
        return None

    def _project_rollout(
        self, event: ManifestCommitted | DeploymentVerified | DeploymentFailed, now: float
    ) -> RunCompleted | None:
        """A commit ends its service, unless a cluster verifies it: then the verdict does, or,
        for a failed rollout with automatic rollback, the rollback commit. The verdict on an
        automatic rollback itself is only recorded: the service has ended by then."""
        run_id, service = event.run_id, event.service
        match event:
            case ManifestCommitted() if event.rollback_of:
                reason = f"{event.rollback_of}; rolled back to {event.new_image}"
                fields = {"restored": event.new_image, "restore_commit": event.gitops_commit}
                self._set(
                    run_id, service, "committer", now, status="failed", reason=reason, **fields
                )
            case ManifestCommitted():
                self._set(
                    run_id,
                    service,
                    "committer",
                    now,
                    status="running" if event.cluster else "succeeded",
                    image=event.new_image,
                    gitops_commit=event.gitops_commit,
                    cluster=event.cluster,
                )
                if event.cluster:
                    return None
            case DeploymentVerified() if event.rollback_of:
                self._redis.hset(_service_key(run_id, service), "restored_health", "healthy")
                return None
            case DeploymentFailed() if event.rollback_of:
                self._redis.hset(_service_key(run_id, service), "restored_health", event.reason)
                return None
            case DeploymentVerified():
                self._set(
                    run_id,
                    service,
                    "verifier",
                    now,
                    status="succeeded",
                    push_to_healthy=event.seconds,
                    workload=event.workload,
                )
            case DeploymentFailed():
                status = "running" if event.auto_rollback else "failed"  # the rollback ends it
                self._set(run_id, service, "verifier", now, status=status, reason=event.reason)
                if event.auto_rollback:
                    return None
        return self._finish_service(event, service)

    def mark_notified(self, run_id: str) -> None:
        self._redis.hset(run_key(run_id), "notified_at", time.time())

    def reopen(self, run_id: str, service: str | None) -> None:
        """A replayed dead letter resumes a finished run: its service (or, without one, the
        run itself) counts as unfinished again, so the run completes once more."""
        key = run_key(run_id)
        pipe = self._redis.pipeline(transaction=True)
        if service is None:
            pipe.hdel(key, "failure")
        else:
            pipe.srem(f"{key}:finished", service)
        pipe.hdel(key, "completing", "notified_at", "finished_at")
        pipe.hset(key, "status", "running")
        pipe.execute()

    def finish_empty(self, trigger: Envelope, reason: str) -> RunCompleted:
        """A run that fans out to no service at all ends here, as 'skipped'."""
        self._redis.hset(run_key(trigger.run_id), mapping={"expected": 0, "reason": reason})
        return self._completion(trigger)

    def _set(self, run_id: str, service: str, stage: str, now: float, **fields: Any) -> None:
        key = _service_key(run_id, service)
        mapping: dict[str, Any] = {"stage": stage, f"t.{stage}.finished": now}
        mapping.setdefault("status", "running")
        mapping.update({k: v for k, v in fields.items() if v is not None})
        pipe = self._redis.pipeline()
        pipe.hsetnx(key, f"t.{stage}.started", now)
        pipe.hset(key, mapping=mapping)
        pipe.sadd(f"{run_key(run_id)}:services", service)
        pipe.execute()

    def _finish_service(self, event: Envelope, service: str) -> RunCompleted | None:
        pipe = self._redis.pipeline(transaction=True)
        pipe.sadd(f"{run_key(event.run_id)}:finished", service)
        pipe.scard(f"{run_key(event.run_id)}:finished")
        pipe.hget(run_key(event.run_id), "expected")
        _, finished, expected = pipe.execute()
        if expected is None or finished < int(expected):
            return None
        return self._claim_completion(event)

    def _finish_run(self, event: Envelope) -> RunCompleted | None:
        return self._claim_completion(event)

    def _claim_completion(self, cause: Envelope) -> RunCompleted | None:
        """Exactly one cause completes a run; the same cause redelivered completes it again."""
        key, claimant = run_key(cause.run_id), str(cause.event_id)
        if not self._redis.hsetnx(key, "completing", claimant):
            current = self._redis.hget(key, "completing")
            if current is None or current.decode() != claimant:
                return None
        return self._completion(cause)

    def _completion(self, cause: Envelope) -> RunCompleted:
        run = self.get(cause.run_id) or {}
        outcomes = {
            name: ServiceOutcome(
                status=svc["status"] if svc["status"] in FINAL_SERVICE_STATUSES else "failed",
                image=svc.get("image", ""),
                digest=svc.get("digest", ""),
                reason=svc.get("reason", ""),
                seconds=svc.get("seconds", 0.0),
                scan_skipped=_scan_skipped(svc),
                scan=svc.get("scan", ""),
            )
            for name, svc in run.get("services", {}).items()
        }
        return RunCompleted(
            event_id=cause.follow_up_id("RunCompleted", cause.run_id),
            run_id=cause.run_id,
            status=overall_status(outcomes, run_failed="failure" in run),
            repository=run.get("repository", ""),
            commit=run.get("commit", ""),
            services=outcomes,
            seconds=round(time.time() - float(run.get("created_at", time.time())), 3),
            release=run.get("release", ""),
            release_notes=run.get("release_notes", ""),
        )

    # --- releases: one commit once every service of the release has its scan outcome ------

    def trigger(self, run_id: str) -> str | None:
        """What started the run: push, tag, forced, deploy, rollback, ... (None: no such run)."""
        value = self._redis.hget(run_key(run_id), "trigger")
        return value.decode() if value is not None else None

    def release_of(self, run_id: str) -> str | None:
        """The version a release run deploys, or None for any other run."""
        value = self._redis.hget(run_key(run_id), "release")
        return value.decode() if value is not None else None

    def keep_release_notes(self, run_id: str, notes: str) -> None:
        self._redis.hset(run_key(run_id), "release_notes", notes)

    def _release_ready(self, event: Envelope) -> ReleaseReady | None:
        """A scan outcome (passed, blocked, or failed before it) counted towards the release."""
        if not isinstance(event, ScanPassed | ScanFailed | StageFailed | BuildSuperseded):
            return None
        key = run_key(event.run_id)
        pipe = self._redis.pipeline(transaction=True)
        pipe.hget(key, "release")
        pipe.sadd(f"{key}:scanned", str(getattr(event, "service", "")))
        pipe.scard(f"{key}:scanned")
        pipe.hget(key, "expected")
        version, _, scanned, expected = pipe.execute()
        if version is None or expected is None or scanned < int(expected):
            return None
        claimant = str(event.event_id)
        if not self._redis.hsetnx(key, "release_ready", claimant):
            current = self._redis.hget(key, "release_ready")
            if current is None or current.decode() != claimant:
                return None
        run = self.get(event.run_id) or {}
        images, held = {}, {}
        for name, svc in run.get("services", {}).items():
            if svc["status"] in FINAL_SERVICE_STATUSES or not svc.get("digest"):
                held[name] = f"{svc['status']}: {svc.get('reason') or 'no image'}"
                continue
            images[name] = ReleaseImage(
                image_repository=svc.get("image_repository") or svc["image"].rsplit(":", 1)[0],
                tag=svc["image"].rsplit(":", 1)[1],
                digest=svc["digest"],
            )
        return ReleaseReady(
            event_id=event.follow_up_id("ReleaseReady", event.run_id),
            run_id=event.run_id,
            source=Source(
                repository=run["release_repository"],
                commit=run["release_commit"],
                ref=run["release_ref"],
            ),
            version=version.decode(),
            images=images,
            held=held,
        )

    # --- reads ----------------------------------------------------------------------

    def get(self, run_id: str) -> dict[str, Any] | None:
        raw = self._redis.hgetall(run_key(run_id))
        if not raw:
            return None
        run: dict[str, Any] = {k.decode(): v.decode() for k, v in raw.items()}
        for field in ("created_at", "received_at", "finished_at", "notified_at"):
            if field in run:
                run[field] = float(run[field])
        run.pop("completing", None)
        names = sorted(m.decode() for m in self._redis.smembers(f"{run_key(run_id)}:services"))
        run["services"] = {name: self._service(run_id, name) for name in names}
        return run

    def list(self, limit: int = 50) -> list[dict[str, Any]]:
        ids = [i.decode() for i in self._redis.zrevrange(INDEX, 0, limit - 1)]
        return [run for run in (self.get(i) for i in ids) if run is not None]

    def newest_first(
        self, at_or_before: float | None = None, since: float | None = None, batch: int = 200
    ) -> Iterator[tuple[str, float]]:
        """(run_id, created_at) of every run created in [since, at_or_before], newest first
        (equal times: run ids in descending order), read from the index in batches."""
        high: Any = "+inf" if at_or_before is None else at_or_before
        low: Any = "-inf" if since is None else since
        offset = 0
        while True:
            page = self._redis.zrevrangebyscore(
                INDEX, high, low, start=offset, num=batch, withscores=True
            )
            if page and offset == 0:
                high = page[0][1]  # runs created meanwhile must not shift the offsets
            for run_id, created_at in page:
                yield run_id.decode(), float(created_at)
            if len(page) < batch:
                return
            offset += batch

    def _service(self, run_id: str, service: str) -> dict[str, Any]:
        raw = {
            k.decode(): v.decode()
            for k, v in self._redis.hgetall(_service_key(run_id, service)).items()
        }
        timings: dict[str, dict[str, float]] = {}
        record: dict[str, Any] = {"image": "", "digest": "", "reason": ""}
        for key, value in raw.items():
            if key.startswith("t."):
                _, stage, edge = key.split(".")
                timings.setdefault(stage, {})[edge] = float(value)
            else:
                record[key] = value
        for marks in timings.values():
            if "started" in marks and "finished" in marks:
                marks["seconds"] = round(marks["finished"] - marks["started"], 3)
        record["timings"] = {s: timings[s] for s in STAGE_ORDER if s in timings}
        starts = [m["started"] for m in timings.values() if "started" in m]
        ends = [m["finished"] for m in timings.values() if "finished" in m]
        record["seconds"] = round(max(ends) - min(starts), 3) if starts and ends else 0.0
        record["cached"] = record.get("cached") == "1"
        return record


def _scan_skipped(service: dict[str, Any]) -> ScanBypass | None:
    if not service.get("scan_skipped_by"):
        return None
    reason = service.get("scan_skip_reason") or "not recorded"
    return ScanBypass(by=service["scan_skipped_by"], reason=reason)


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
    if not outcomes:
        return "skipped"
    if statuses == {"superseded"}:
        return "superseded"
    if statuses <= {"superseded", "held"}:
        return "held"
    return "succeeded"

"""How each event changes the run store, and the one event that completes a run.

Every update is an idempotent HSET/SADD, so a redelivered event applied twice changes
nothing; the completion is claimed once, by the event that ended the run's last service
(the same event redelivered completes it again).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

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
    ReleaseReady,
    RunCompleted,
    ScanFailed,
    ScanPassed,
    Source,
    StageFailed,
    Unpinned,
)
from services.common.keyspace import Keyspace
from services.common.redis_types import RedisClient
from services.common.run_models import Run
from services.common.run_records import (
    overall_status,
    push_fields,
    release_fields,
    release_images,
    scan_summary,
    service_outcome,
)
from services.common.run_recovery import recovered_record


class RunProjection:
    def __init__(
        self, client: RedisClient, read: Callable[[str], Run | None], keys: Keyspace
    ) -> None:
        """`read`: the run as the store reads it back (RunStore.get)."""
        self._redis, self._read, self._keys = client, read, keys

    def apply(self, event: Envelope) -> RunCompleted | ReleaseReady | None:
        """Project one event; returns the RunCompleted when it finished the run's last service,
        or the ReleaseReady when it was the last scan outcome a release run waited for."""
        completed = self._project(event)
        if completed is None and getattr(event, "service", None):
            return self._release_ready(event)
        return completed

    def _project(self, event: Envelope) -> RunCompleted | None:
        now = time.time()
        self._recover(event, now)
        match event:
            case PushReceived():
                self._redis.hset(self._keys.run(event.run_id), mapping=push_fields(event, now))
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
                        self._keys.run(event.run_id), mapping=release_fields(event.source)
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
                    self._redis.hset(self._keys.run(event.run_id), mapping={"failure": reason})
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
            case Unpinned():
                reason = f"unpinned from {event.image}" if event.image else "was not pinned"
                status = "succeeded" if event.image else "skipped"
                commit = {"gitops_commit": event.gitops_commit} if event.gitops_commit else {}
                fields = {"status": status, "reason": reason, **commit}
                self._set(event.run_id, event.service, "committer", now, **fields)
                return self._finish_service(event, event.service)
            case RunCompleted():
                self._redis.hset(
                    self._keys.run(event.run_id),
                    mapping={"status": event.status, "finished_at": now},
                )
        return None

    def _recover(self, event: Envelope, now: float) -> None:
        """Recreate the run of a stage event when its hash is gone (Redis lost its data);
        HSETNX per field, so events racing to recreate it agree."""
        key = self._keys.run(event.run_id)
        record = recovered_record(event, now)
        if record is None or self._redis.exists(key):
            return
        pipe = self._redis.pipeline(transaction=True)
        for field, value in record.items():
            pipe.hsetnx(key, field, value)
        pipe.zadd(self._keys.runs_index, {event.run_id: float(record["created_at"])})
        pipe.execute()

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
                self._redis.hset(
                    self._keys.run_service(run_id, service), "restored_health", "healthy"
                )
                return None
            case DeploymentFailed() if event.rollback_of:
                self._redis.hset(
                    self._keys.run_service(run_id, service), "restored_health", event.reason
                )
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

    def _set(self, run_id: str, service: str, stage: str, now: float, **fields: Any) -> None:
        key = self._keys.run_service(run_id, service)
        mapping: dict[str, Any] = {"stage": stage, f"t.{stage}.finished": now}
        mapping.setdefault("status", "running")
        mapping.update({k: v for k, v in fields.items() if v is not None})
        pipe = self._redis.pipeline()
        pipe.hsetnx(key, f"t.{stage}.started", now)
        pipe.hset(key, mapping=mapping)
        pipe.sadd(self._keys.run_services(run_id), service)
        pipe.execute()

    def _finish_service(self, event: Envelope, service: str) -> RunCompleted | None:
        pipe = self._redis.pipeline(transaction=True)
        pipe.sadd(self._keys.run_finished(event.run_id), service)
        pipe.scard(self._keys.run_finished(event.run_id))
        pipe.hget(self._keys.run(event.run_id), "expected")
        pipe.hget(self._keys.run(event.run_id), "recovered_at")
        pipe.scard(self._keys.run_services(event.run_id))
        _, finished, expected, recovered, seen = pipe.execute()
        if expected is None and recovered is not None:
            expected = seen  # its fan-out went with the data: every service seen since
        if expected is None or finished < int(expected):
            return None
        return self._claim_completion(event)

    def _finish_run(self, event: Envelope) -> RunCompleted | None:
        return self._claim_completion(event)

    def _claim_completion(self, cause: Envelope) -> RunCompleted | None:
        """Exactly one cause completes a run; the same cause redelivered completes it again."""
        key, claimant = self._keys.run(cause.run_id), str(cause.event_id)
        if not self._redis.hsetnx(key, "completing", claimant):
            current = self._redis.hget(key, "completing")
            if current is None or current.decode() != claimant:
                return None
        return self.completion(cause)

    def completion(self, cause: Envelope) -> RunCompleted:
        """The RunCompleted `cause` ends its run with, summarised from the run as it stands."""
        now = time.time()
        run = self._read(cause.run_id) or Run(status="running")
        outcomes = {name: service_outcome(svc) for name, svc in run.services.items()}
        return RunCompleted(
            event_id=cause.follow_up_id("RunCompleted", cause.run_id),
            run_id=cause.run_id,
            status=overall_status(outcomes, run_failed=run.failure is not None),
            repository=run.repository or "",
            commit=run.commit or "",
            services=outcomes,
            seconds=round(now - (run.created_at or now), 3),
            release=run.release or "",
            release_notes=run.release_notes or "",
        )

    # --- releases: one commit once every service of the release has its scan outcome ------

    def _release_ready(self, event: Envelope) -> ReleaseReady | None:
        """A scan outcome (passed, blocked, or failed before it) counted towards the release."""
        if not isinstance(event, ScanPassed | ScanFailed | StageFailed | BuildSuperseded):
            return None
        key = self._keys.run(event.run_id)
        pipe = self._redis.pipeline(transaction=True)
        pipe.hget(key, "release")
        pipe.sadd(self._keys.run_scanned(event.run_id), str(getattr(event, "service", "")))
        pipe.scard(self._keys.run_scanned(event.run_id))
        pipe.hget(key, "expected")
        version, _, scanned, expected = pipe.execute()
        if version is None or expected is None or scanned < int(expected):
            return None
        claimant = str(event.event_id)
        if not self._redis.hsetnx(key, "release_ready", claimant):
            current = self._redis.hget(key, "release_ready")
            if current is None or current.decode() != claimant:
                return None
        run = self._read(event.run_id)
        if run is None or not (run.release_repository and run.release_commit and run.release_ref):
            raise KeyError(f"run {event.run_id} has no release source recorded")
        images, held = release_images(run.services)
        return ReleaseReady(
            event_id=event.follow_up_id("ReleaseReady", event.run_id),
            run_id=event.run_id,
            source=Source(
                repository=run.release_repository,
                commit=run.release_commit,
                ref=run.release_ref,
            ),
            version=version.decode(),
            images=images,
            held=held,
        )

"""How each event changes the run store, and the one event that completes a run.

Every update is an idempotent HSET/SADD, so a redelivered event applied twice changes
nothing; the completion is claimed once, by the event that ended the run's last service
(the same event redelivered completes it again). The updates are added to a publish's
writes (publish_script.py), which Redis runs in one script with the event log's and the
queues' writes; only the event that completes a run (or readies a release) then reads the
run back, to summarise it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
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
    PullRequestOpened,
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
from services.common.publish_script import Writes
from services.common.redis_types import RedisClient
from services.common.run_index import index_service, index_status
from services.common.run_models import Run
from services.common.run_records import (
    overall_status,
    push_fields,
    release_fields,
    release_images,
    scan_summary,
    service_outcome,
)
from services.common.run_recovery import STAGE_EVENTS, recovered_record, repository_of

# The scan outcomes (passed, blocked, or failed before it) a release run counts.
RELEASE_OUTCOMES = (ScanPassed, ScanFailed, StageFailed, BuildSuperseded)


@dataclass(frozen=True)
class Projected:
    """An event's projection added to a publish's writes: the positions of the writes that
    claim its run's completion and its release's readiness (None: it has none)."""

    event: Envelope
    completion: int | None
    release: int | None


class RunProjection:
    def __init__(
        self, client: RedisClient, read: Callable[[str], Run | None], keys: Keyspace
    ) -> None:
        """`read`: the run as the store reads it back (RunStore.get)."""
        self._redis, self._read, self._keys = client, read, keys

    def apply(self, event: Envelope) -> RunCompleted | ReleaseReady | None:
        """Project one event; returns the RunCompleted when it finished the run's last service,
        or the ReleaseReady when it was the last scan outcome a release run waited for."""
        writes = Writes()
        projected = self.project(event, writes)
        return self.outcome(projected, writes.commit(self._redis))

    def project(self, event: Envelope, writes: Writes) -> Projected:
        """Add what `event` changes to `writes`; `outcome` reads the answer."""
        completion = self._project(event, writes)
        service = getattr(event, "service", None)
        if service and isinstance(event, STAGE_EVENTS):
            index_service(writes, self._keys, event.run_id, str(service), repository_of(event))
        release = None
        if getattr(event, "service", None) and isinstance(event, RELEASE_OUTCOMES):
            key, scanned = self._keys.run(event.run_id), self._keys.run_scanned(event.run_id)
            release = writes.release(
                key, scanned, str(event.service), str(event.event_id), completion or 0
            )
        return Projected(event, completion, release)

    def outcome(
        self, projected: Projected, results: list[int]
    ) -> RunCompleted | ReleaseReady | None:
        """The RunCompleted when the event finished the run's last service, or the ReleaseReady
        when it was the last scan outcome a release run waited for."""
        event = projected.event
        if projected.completion is not None and results[projected.completion - 1]:
            return self.completion(event)
        if projected.release is not None and results[projected.release - 1]:
            return self._release_ready(event)
        return None

    def _project(self, event: Envelope, writes: Writes) -> int | None:
        """Adds the event's writes; the position of the write claiming the run's completion."""
        now = time.time()
        self._recover(event, now, writes)
        match event:
            case PushReceived():
                writes.hset(self._keys.run(event.run_id), mapping=push_fields(event, now))
            case ChangeDetected():
                self._set(
                    writes,
                    event.run_id,
                    event.service,
                    "detector",
                    now,
                    image_repository=event.image_repository,
                )
                if event.reason == "release":
                    writes.hset(self._keys.run(event.run_id), mapping=release_fields(event.source))
            case ImagePushed():
                self._set(
                    writes,
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
                    writes,
                    event.run_id,
                    event.service,
                    "builder",
                    now,
                    status="superseded",
                    reason=reason,
                )
                return self._finish_service(event, event.service, writes)
            case ScanPassed():
                skipped = event.skipped
                self._set(
                    writes,
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
                    writes,
                    event.run_id,
                    event.service,
                    "scanner",
                    now,
                    status="blocked",
                    reason=reason,
                    scan=scan_summary("blocked", event.counts),
                )
                return self._finish_service(event, event.service, writes)
            case ManifestCommitted() | DeploymentVerified() | DeploymentFailed():
                return self._project_rollout(event, now, writes)
            case StageFailed():
                reason = f"{event.stage}: {event.error_class}: {event.message}"
                if event.service is None:
                    writes.hset(self._keys.run(event.run_id), mapping={"failure": reason})
                    return writes.claim(
                        self._keys.run(event.run_id), "completing", str(event.event_id)
                    )
                self._set(
                    writes,
                    event.run_id,
                    event.service,
                    event.stage,
                    now,
                    status="failed",
                    reason=reason,
                )
                return self._finish_service(event, event.service, writes)
            case DeploymentSkipped():
                self._set(
                    writes,
                    event.run_id,
                    event.service,
                    "committer",
                    now,
                    status=event.outcome,
                    reason=event.reason,
                )
                return self._finish_service(event, event.service, writes)
            case PullRequestOpened():
                reason = f"awaiting the merge of {event.url}"
                fields = {"status": "awaiting-merge", "reason": reason}
                self._set(writes, event.run_id, event.service, "committer", now, **fields)
                writes.hset(self._keys.run(event.run_id), mapping={"status": "awaiting-merge"})
                index_status(writes, self._keys, event.run_id)
            case Unpinned():
                reason = f"unpinned from {event.image}" if event.image else "was not pinned"
                status = "succeeded" if event.image else "skipped"
                commit = {"gitops_commit": event.gitops_commit} if event.gitops_commit else {}
                fields = {"status": status, "reason": reason, **commit}
                self._set(writes, event.run_id, event.service, "committer", now, **fields)
                return self._finish_service(event, event.service, writes)
            case RunCompleted():
                writes.hset(
                    self._keys.run(event.run_id),
                    mapping={"status": event.status, "finished_at": now},
                )
                index_status(writes, self._keys, event.run_id)
        return None

    def _recover(self, event: Envelope, now: float, writes: Writes) -> None:
        """Recreate the run of a stage event when its hash is gone (Redis lost its data);
        the script checks, then HSETNX per field, so events racing to recreate it agree."""
        record = recovered_record(event, now)
        if record is not None:
            run_key = self._keys.run(event.run_id)
            recovered = writes.recover(run_key, self._keys.runs_index, event.run_id, record)
            index_status(writes, self._keys, event.run_id, when=recovered)
            if record.get("repository"):
                repository = self._keys.runs_by_repository(str(record["repository"]))
                writes.index(run_key, event.run_id, [repository], when=recovered)

    def _project_rollout(
        self,
        event: ManifestCommitted | DeploymentVerified | DeploymentFailed,
        now: float,
        writes: Writes,
    ) -> int | None:
        """A commit ends its service, unless a cluster verifies it: then the verdict does, or,
        for a failed rollout with automatic rollback, the rollback commit. The verdict on an
        automatic rollback itself is only recorded: the service has ended by then."""
        run_id, service = event.run_id, event.service
        match event:
            case ManifestCommitted() if event.rollback_of:
                reason = f"{event.rollback_of}; rolled back to {event.new_image}"
                fields = {"restored": event.new_image, "restore_commit": event.gitops_commit}
                self._set(
                    writes,
                    run_id,
                    service,
                    "committer",
                    now,
                    status="failed",
                    reason=reason,
                    **fields,
                )
            case ManifestCommitted():
                self._set(
                    writes,
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
                writes.hset(self._keys.run_service(run_id, service), {"restored_health": "healthy"})
                return None
            case DeploymentFailed() if event.rollback_of:
                writes.hset(
                    self._keys.run_service(run_id, service), {"restored_health": event.reason}
                )
                return None
            case DeploymentVerified():
                self._set(
                    writes,
                    run_id,
                    service,
                    "verifier",
                    now,
                    status="succeeded",
                    push_to_healthy=event.seconds,
                    workload=event.workload,
                    argocd_refresh=event.argocd_refresh or None,
                )
            case DeploymentFailed():
                status = "running" if event.auto_rollback else "failed"  # the rollback ends it
                self._set(
                    writes,
                    run_id,
                    service,
                    "verifier",
                    now,
                    status=status,
                    reason=event.reason,
                    argocd_refresh=event.argocd_refresh or None,
                )
                if event.auto_rollback:
                    return None
        return self._finish_service(event, service, writes)

    def _set(
        self, writes: Writes, run_id: str, service: str, stage: str, now: float, **fields: Any
    ) -> None:
        key = self._keys.run_service(run_id, service)
        mapping: dict[str, Any] = {"stage": stage, f"t.{stage}.finished": now}
        mapping.setdefault("status", "running")
        mapping.update({k: v for k, v in fields.items() if v is not None})
        writes.call("HSETNX", key, f"t.{stage}.started", now)
        # An event published again (a stage killed after its publish, before its done marker,
        # handles it again) may come after the service moved on: its fields are not written
        # over the later state. Its claims still run, and answer as they did the first time.
        writes.hset(key, mapping, when=writes.first_publish)
        writes.call("SADD", self._keys.run_services(run_id), service)

    def _finish_service(self, event: Envelope, service: str, writes: Writes) -> int:
        """Exactly one event completes a run: the one that ended its last service (the same
        event redelivered completes it again). A recovered run's fan-out went with the data:
        every service seen since counts."""
        run_id = event.run_id
        return writes.finish(
            self._keys.run_finished(run_id),
            self._keys.run_services(run_id),
            self._keys.run(run_id),
            service,
            str(event.event_id),
        )

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
            requested_by=(run.pusher or "") if run.provider == "manual" else "",
        )

    # --- releases: one commit once every service of the release has its scan outcome ------

    def _release_ready(self, event: Envelope) -> ReleaseReady:
        """The ReleaseReady of the event that gave a release run its last scan outcome."""
        run = self._read(event.run_id)
        if run is None or not (
            run.release and run.release_repository and run.release_commit and run.release_ref
        ):
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
            version=run.release,
            images=images,
            held=held,
        )

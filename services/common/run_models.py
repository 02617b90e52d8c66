"""What a run record is: the run, each of its services, their stage timings, and the views
the runs API builds from them (a timeline per service, a page of runs).

The run store reads its Redis hashes into these models; the API answers with them and the
CLI parses its answers back into them. A field the hash lacks is None here and absent from
the JSON (never `null`), so the JSON holds exactly the hash's fields, as it always has. A few
counts and times are kept as strings in the JSON, as they are in the hash, but are numbers
here. Fields a trigger added that no model names (`RunStore.create(**fields)`) are kept as
they are.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    SerializerFunctionWrapHandler,
    model_serializer,
)

from services.common.events import RunStatus, ServiceStatus

Count = Annotated[int, PlainSerializer(str, return_type=str)]  # "2" in the JSON, as stored
Moment = Annotated[float, PlainSerializer(repr, return_type=str)]  # "1765000000.5", likewise


class Record(BaseModel):
    """A record as stored: a field the hash lacks is None, and left out of the JSON."""

    model_config = ConfigDict(extra="allow", serialize_by_alias=True, validate_by_name=True)

    # unannotated return: the JSON schema stays the fields' own, not "any object"
    @model_serializer(mode="wrap")
    def _without_absent_fields(self, handler: SerializerFunctionWrapHandler):
        return {key: value for key, value in handler(self).items() if value is not None}


class StageTiming(Record):
    """When a service entered and left one stage (epoch seconds), and the time it took."""

    model_config = ConfigDict(extra="forbid")
    started: float | None = None
    finished: float | None = None
    seconds: float | None = None


class ServiceRecord(Record):
    """One service of a run: where it is, how it went, what it built and deployed."""

    image: str = ""
    digest: str = ""
    reason: str = ""
    status: ServiceStatus
    stage: str
    image_repository: str | None = None
    cached: bool = False  # the image was already in the registry
    scan: str | None = None  # the scan's verdict and counts, e.g. "passed: 2 HIGH, 1 MEDIUM"
    scan_skipped_by: str | None = None  # the emergency bypass of the scan gate: who, and why
    scan_skip_reason: str | None = None
    gitops_commit: str | None = None
    cluster: str | None = None
    push_to_healthy: Moment | None = None  # seconds from the push to a healthy rollout
    argocd_refresh: str | None = None  # how Argo CD was asked to read the commit at once
    workload: str | None = None
    restored: str | None = None  # the image an automatic rollback restored, by which commit
    restore_commit: str | None = None
    restored_health: str | None = None  # "healthy", or why the restored rollout failed
    timings: dict[str, StageTiming] = {}  # in pipeline order
    seconds: float = 0.0  # from its first start to its last finish


class Run(Record):
    """A run: everything one trigger caused, and each service it fanned out to. A field the
    run has not reached yet is absent, never null; `expected` and the run-wide
    `<stage>.started` times are strings, as the run store keeps them."""

    # None only in a hash no trigger created (a run only hand-published events wrote to)
    run_id: str | None = None
    status: RunStatus | None = None
    trigger: str | None = None  # push, tag, forced, deploy, rollback, recovered
    created_at: float | None = None
    provider: str | None = None
    repository: str | None = None
    ref: str | None = None
    commit: str | None = None
    tag_object: str | None = None  # the annotated tag the trigger named, peeled to `commit`
    pusher: str | None = None
    delivery_id: str | None = None
    received_at: float | None = None
    message: str | None = None  # the pushed head commit's subject
    detector_started: Moment | None = Field(default=None, alias="detector.started")
    builder_started: Moment | None = Field(default=None, alias="builder.started")
    scanner_started: Moment | None = Field(default=None, alias="scanner.started")
    committer_started: Moment | None = Field(default=None, alias="committer.started")
    verifier_started: Moment | None = Field(default=None, alias="verifier.started")
    expected: Count | None = None  # how many services the run fans out to, once planned
    reason: str | None = None  # why a run with no service was skipped
    failure: str | None = None  # a run-wide stage failure (a detector's, say)
    release: str | None = None  # the version a release run deploys
    release_repository: str | None = None
    release_commit: str | None = None
    release_ref: str | None = None
    release_ready: str | None = None  # the event that completed the release's scans
    release_notes: str | None = None
    host_release: str | None = None  # the Release on the git host: its page, or failed: why
    finished_at: float | None = None
    notified_at: float | None = None
    # when the run store, having lost the run with Redis's data, rebuilt it from its events
    recovered_at: float | None = None
    services: dict[str, ServiceRecord] = {}


class TimelineStage(BaseModel):
    """One stage of a service in the timeline; `state` is `done`, `running`, or the
    service's final status at the stage that ended it. Times not reached yet are null."""

    stage: str
    state: str
    started: float | None
    finished: float | None
    seconds: float | None


class RunDetail(Run):
    """A run as `GET /api/v1/runs/{run_id}` answers it: with its timeline per service."""

    timeline: dict[str, list[TimelineStage]] = {}


class RunPage(BaseModel):
    """A page of runs, newest first; `next_cursor` fetches the next (null: no more)."""

    runs: list[Run]
    next_cursor: str | None

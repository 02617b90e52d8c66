"""The events that are the only contract between stages.

Every event is a frozen pydantic model carrying the same envelope; the union
:data:`AnyEvent` is discriminated on ``type`` so JSON decodes to the right class.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from services.common.errors import EventDecodeError

SCHEMA_VERSION = 1
ZERO_SHA = "0" * 40

ServiceStatus = Literal["pending", "running", "succeeded", "failed", "blocked", "skipped"]
RunStatus = Literal["queued", "running", "succeeded", "failed", "blocked", "skipped"]
ServiceName = Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")]


def _now() -> datetime:
    return datetime.now(UTC)


class Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Envelope(Model):
    type: str  # narrowed to a Literal by every concrete event
    event_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    run_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    occurred_at: datetime = Field(default_factory=_now)
    schema_version: Literal[1] = 1

    def follow_up_id(self, kind: str, *parts: str) -> uuid.UUID:
        """A deterministic id for an event this one causes, so redelivery dedupes downstream."""
        return uuid.uuid5(self.event_id, ":".join((kind, *parts)))


class Source(Model):
    """Which commit of which configured repository an event is about."""

    repository: str
    commit: str = Field(pattern=r"^[0-9a-f]{40}$")
    ref: str

    @property
    def short_sha(self) -> str:
        return self.commit[:7]


class PushedCommit(Model):
    id: str
    message: str = ""
    author: str = ""
    added: tuple[str, ...] = ()
    modified: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()


class PushReceived(Envelope):
    type: Literal["PushReceived"] = "PushReceived"
    provider: Literal["github", "gitlab", "gitea", "manual"]
    delivery_id: str
    repository: str
    ref: str
    before: str = Field(pattern=r"^[0-9a-f]{40}$")
    after: str = Field(pattern=r"^[0-9a-f]{40}$")
    pusher: str = ""
    commits: tuple[PushedCommit, ...] = ()


class ChangeDetected(Envelope):
    type: Literal["ChangeDetected"] = "ChangeDetected"
    service: ServiceName
    source: Source
    context: str
    dockerfile: str
    image_repository: str
    tags: tuple[str, ...]
    reason: Literal["paths", "dependency", "forced", "release"]
    changed_paths: tuple[str, ...] = ()


class ImagePushed(Envelope):
    type: Literal["ImagePushed"] = "ImagePushed"
    service: ServiceName
    source: Source
    image_repository: str
    tags: tuple[str, ...]
    digest: str = Field(pattern=r"^sha256:[0-9a-f]{64}$")
    build_seconds: float = 0.0
    cached: bool = False

    @property
    def image_by_digest(self) -> str:
        return f"{self.image_repository}@{self.digest}"

    @property
    def image(self) -> str:
        """The reference written into manifests: repository and the first (commit) tag."""
        return f"{self.image_repository}:{self.tags[0]}"


class Finding(Model):
    """One scanner result: a vulnerability or a secret."""

    kind: Literal["vulnerability", "secret", "misconfiguration"]
    id: str
    severity: Literal["UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL"]
    title: str = ""
    package: str = ""
    installed_version: str = ""
    fixed_version: str = ""
    target: str = ""

    def describe(self) -> str:
        if self.kind == "secret":
            return f"{self.severity} secret {self.id} in {self.target}"
        fix = f", fixed in {self.fixed_version}" if self.fixed_version else ""
        return f"{self.severity} {self.id} in {self.package} {self.installed_version}{fix}"


class _ScanResult(Envelope):
    service: ServiceName
    source: Source
    image_repository: str
    tags: tuple[str, ...]
    digest: str
    counts: dict[str, int]
    policy: str
    report_location: str = ""

    @property
    def image(self) -> str:
        return f"{self.image_repository}:{self.tags[0]}"


class ScanPassed(_ScanResult):
    type: Literal["ScanPassed"] = "ScanPassed"


class ScanFailed(_ScanResult):
    type: Literal["ScanFailed"] = "ScanFailed"
    findings: tuple[Finding, ...]


class ManifestCommitted(Envelope):
    type: Literal["ManifestCommitted"] = "ManifestCommitted"
    service: ServiceName
    source: Source
    manifest_path: str
    old_image: str
    new_image: str
    digest: str = ""
    gitops_repository: str
    gitops_commit: str
    branch: str


class StageFailed(Envelope):
    type: Literal["StageFailed"] = "StageFailed"
    stage: str
    service: ServiceName | None = None
    error_class: str
    message: str
    attempt: int = 1
    retryable: bool = False


class ServiceOutcome(Model):
    status: ServiceStatus
    image: str = ""
    digest: str = ""
    reason: str = ""
    seconds: float = 0.0


class RunCompleted(Envelope):
    type: Literal["RunCompleted"] = "RunCompleted"
    status: RunStatus
    repository: str = ""
    commit: str = ""
    services: dict[str, ServiceOutcome] = {}
    seconds: float = 0.0


AnyEvent = Annotated[
    PushReceived
    | ChangeDetected
    | ImagePushed
    | ScanPassed
    | ScanFailed
    | ManifestCommitted
    | StageFailed
    | RunCompleted,
    Field(discriminator="type"),
]
Event = Envelope

_adapter: TypeAdapter[AnyEvent] = TypeAdapter(AnyEvent)
EVENT_TYPES: tuple[str, ...] = (
    "PushReceived",
    "ChangeDetected",
    "ImagePushed",
    "ScanPassed",
    "ScanFailed",
    "ManifestCommitted",
    "StageFailed",
    "RunCompleted",
)


def decode_event(data: str | bytes | dict[str, object]) -> Envelope:
    """Parse JSON (or an already-parsed dict) into its event class, or raise EventDecodeError."""
    try:
        if isinstance(data, dict):
            return _adapter.validate_python(data)
        return _adapter.validate_json(data)
    except ValidationError as exc:
        raise EventDecodeError(_explain(exc)) from None


def _explain(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(part) for part in error["loc"]) or "(body)"
        problems.append(f"{where}: {error['msg']}")
    return "invalid event: " + "; ".join(problems)


def encode_event(event: Envelope) -> str:
    return event.model_dump_json()

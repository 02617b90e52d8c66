"""The events that are the only contract between stages.

Every event is a frozen pydantic model carrying the same envelope; the union
:data:`AnyEvent` is discriminated on ``type`` so JSON decodes to the right class.
"""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import Field, TypeAdapter, ValidationError, model_validator

from services.common.errors import EventDecodeError
from services.common.event_base import SCHEMA_VERSION as SCHEMA_VERSION
from services.common.event_base import ZERO_SHA as ZERO_SHA
from services.common.event_base import BuildArgName as BuildArgName
from services.common.event_base import Envelope as Envelope
from services.common.event_base import ImageTag as ImageTag
from services.common.event_base import Model as Model
from services.common.event_base import PushedCommit as PushedCommit
from services.common.event_base import RunStatus as RunStatus
from services.common.event_base import ServiceName as ServiceName
from services.common.event_base import ServiceStatus as ServiceStatus
from services.common.event_base import Source as Source
from services.common.findings import Allowance as Allowance  # part of the event contract
from services.common.findings import Finding as Finding
from services.common.promotion_events import PromotionRequested as PromotionRequested
from services.common.promotion_events import PullRequestClosed as PullRequestClosed
from services.common.promotion_events import PullRequestOpened as PullRequestOpened
from services.common.sbom_record import SbomRecord as SbomRecord


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


class BuildRequested(Envelope):
    """A manual request to build services at a commit or ref whether they changed or not.

    With only a ref, the detector builds the commit the ref names when it runs.
    """

    type: Literal["BuildRequested"] = "BuildRequested"
    repository: str
    commit: str | None = Field(default=None, pattern=r"^[0-9a-f]{40}$")
    ref: str | None = Field(default=None, pattern=r"^refs/(heads|tags)/[A-Za-z0-9._/-]{1,200}$")
    services: tuple[ServiceName, ...] = Field(min_length=1, max_length=500)
    requested_by: str = ""

    @model_validator(mode="after")
    def _commit_or_ref(self) -> BuildRequested:
        if self.commit is None and self.ref is None:
            raise ValueError("give a commit or a ref")
        if self.ref is not None and ".." in self.ref:
            raise ValueError("ref must not contain '..'")
        return self


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
    build_args: dict[BuildArgName, str] = {}  # shipline.yaml `build_args` (never secrets)
    target: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


class ScanBypass(Model):
    """An emergency bypass of the scan gate: who asked for it, and why. Both are required."""

    by: str = Field(min_length=1, max_length=100, pattern=r"\S")
    reason: str = Field(min_length=3, max_length=500, pattern=r"\S")


class ImagePushed(Envelope):
    type: Literal["ImagePushed"] = "ImagePushed"
    service: ServiceName
    source: Source
    image_repository: str
    tags: tuple[str, ...]
    digest: str = Field(pattern=r"^sha256:[0-9a-f]{64}$")
    build_seconds: float = 0.0
    cached: bool = False
    skip_scan: ScanBypass | None = None  # manual deployments only: deploy without the scan gate

    @property
    def image_by_digest(self) -> str:
        return f"{self.image_repository}@{self.digest}"

    @property
    def image(self) -> str:
        """The reference written into manifests: repository and the first (commit) tag."""
        return f"{self.image_repository}:{self.tags[0]}"


class ReleaseRequested(Envelope):
    """Release an existing tag: the detector resolves it and detects it as its push."""

    type: Literal["ReleaseRequested"] = "ReleaseRequested"
    repository: str
    tag: ImageTag
    requested_by: str = ""


class DeployRequested(Envelope):
    """Deploy a tag of a service's image in the registry: the detector checks the service
    (shipline.yaml, default branch) and the digest (the registry's; a redeploy by hand names
    the image repository and digest it expects), then publishes the ImagePushed."""

    type: Literal["DeployRequested"] = "DeployRequested"
    service: ServiceName
    repository: str
    tag: ImageTag
    image_repository: str | None = None
    digest: str | None = Field(default=None, pattern=r"^sha256:[0-9a-f]{64}$")
    skip_scan: ScanBypass | None = None
    requested_by: str = ""


class BuildSuperseded(Envelope):
    """The builder dropped this build: a newer push of the same service and branch came in."""

    type: Literal["BuildSuperseded"] = "BuildSuperseded"
    service: ServiceName
    source: Source
    newer_commit: str = Field(pattern=r"^[0-9a-f]{40}$")
    newer_run_id: str = ""


class _ScanResult(Envelope):
    service: ServiceName
    source: Source
    image_repository: str
    tags: tuple[str, ...]
    digest: str
    counts: dict[str, int]
    policy: str
    report_location: str = ""  # the full Trivy JSON
    sarif_location: str = ""  # SARIF limited to the policy's severities
    suppressed: tuple[Finding, ...] = ()  # findings an allowlist entry accepted
    unfixed_ignored: int = 0  # vulnerabilities without a fix, not counted (ignore_unfixed)
    sbom: SbomRecord | None = None  # the image's CycloneDX SBOM; None: not scanned

    @property
    def image(self) -> str:
        return f"{self.image_repository}:{self.tags[0]}"


class ScanPassed(_ScanResult):
    type: Literal["ScanPassed"] = "ScanPassed"
    skipped: ScanBypass | None = None  # not scanned at all: an emergency bypass


class ScanFailed(_ScanResult):
    type: Literal["ScanFailed"] = "ScanFailed"
    findings: tuple[Finding, ...]  # exactly the findings that broke the policy
    violations: tuple[str, ...] = ()  # the rules they broke, e.g. "3 HIGH, more than the 2 allowed"

    def explain(self, limit: int = 10) -> str:
        """The rules broken and the first findings, for people."""
        shown = "; ".join(f.describe() for f in self.findings[:limit])
        more = len(self.findings) - limit
        if more > 0:
            shown += f"; and {more} more"
        rules = "; ".join(self.violations)
        return f"{rules}: {shown}" if rules else shown


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
    kind: Literal["deploy", "release", "rollback"] = "deploy"
    # Set: the cluster (server settings `clusters`) where the verifier checks the rollout;
    # the service's run then ends at DeploymentVerified/DeploymentFailed. None: ends here.
    cluster: str | None = None
    auto_rollback: bool = False  # shipline.yaml `auto_rollback`: revert if the rollout fails
    rollback_of: str = ""  # an automatic rollback: the failure it answers


class _Verification(Envelope):
    """The verifier's verdict on one committed image in one cluster."""

    service: ServiceName
    source: Source
    image: str
    old_image: str = ""
    cluster: str
    gitops_commit: str
    kind: Literal["deploy", "release", "rollback"] = "deploy"
    manifest_path: str = ""  # the one the commit wrote: which environment was verified
    # with it, the gitops repository and branch of the commit: two environments may write
    # the same path in different repositories ("": a verifier from before it said)
    gitops_repository: str = ""
    branch: str = ""
    workload: str = ""  # e.g. "Deployment shop/cart"
    application: str = ""  # the Argo CD Application, e.g. "argocd/shop"
    rollback_of: str = ""  # set when verifying an automatic rollback: the failure it answers
    # clusters[].argocd_refresh: how Argo CD was asked to read the commit at once, or why
    # that failed ("failed: ..."); "" when it was left to its poll
    argocd_refresh: str = ""


class DeploymentVerified(_Verification):
    type: Literal["DeploymentVerified"] = "DeploymentVerified"
    seconds: float  # from the push (the run's start) to healthy
    rollout_seconds: float = 0.0  # from the gitops commit to healthy
    ready_replicas: int = 0


class DeploymentFailed(_Verification):
    type: Literal["DeploymentFailed"] = "DeploymentFailed"
    condition: str  # e.g. CrashLoopBackOff, ImagePullBackOff, ProgressDeadlineExceeded, Degraded
    reason: str  # for people: the condition and where, with the API's message
    auto_rollback: bool = False  # the committer reverts to the previous image


class RollbackRequested(Envelope):
    """An operator puts a service back on an earlier image: `to` (a tag of the service's
    image), or by default the image deployed before the current one. Pins the service."""

    type: Literal["RollbackRequested"] = "RollbackRequested"
    service: ServiceName
    repository: str
    to: ImageTag | None = None
    digest: str | None = Field(default=None, pattern=r"^sha256:[0-9a-f]{64}$")  # of `to`
    requested_by: str = ""
    # Where: its manifest and its pin there only; None: the first environment.
    environment: ServiceName | None = None  # a DNS label, as environments are


class UnpinRequested(Envelope):
    """An operator lets automatic deploys of a pinned service through again: the committer
    removes its pin from the gitops branch's pins file in a commit."""

    type: Literal["UnpinRequested"] = "UnpinRequested"
    service: ServiceName
    repository: str
    requested_by: str = ""
    environment: ServiceName | None = None  # a DNS label, as environments are; None: first


class Unpinned(Envelope):
    """The committer's answer to an UnpinRequested: the pin it removed (`image` and who
    pinned it, in `gitops_commit`), or none when the service was not pinned (`image` "")."""

    type: Literal["Unpinned"] = "Unpinned"
    service: ServiceName
    repository: str
    image: str = ""  # the image the service was pinned to; "": it was not pinned
    pinned_by: str = ""
    rollback_run_id: str = ""  # the run that pinned it
    gitops_repository: str
    gitops_commit: str = ""  # the commit that removed the pin
    branch: str
    environment: str | None = None  # a later environment's pin; None: the first one's


class ReleaseImage(Model):
    image_repository: str
    tag: str
    digest: str = Field(pattern=r"^sha256:[0-9a-f]{64}$")


class ReleaseReady(Envelope):
    """Every service of a release run has its scan outcome: the committer writes the passed
    images in one `release <version>` commit, unless some service is `held` back."""

    type: Literal["ReleaseReady"] = "ReleaseReady"
    source: Source
    version: str
    images: dict[ServiceName, ReleaseImage] = {}  # the services whose scan passed
    held: dict[ServiceName, str] = {}  # the services that did not pass, and why


class DeploymentSkipped(Envelope):
    """The committer wrote nothing for a service: a newer commit is already deployed
    (`superseded`), or the service is pinned since a rollback (`held`), or its promotion's
    pull request was closed unmerged (`rejected`) or replaced by a newer one (`superseded`)."""

    type: Literal["DeploymentSkipped"] = "DeploymentSkipped"
    service: ServiceName
    source: Source
    image: str
    outcome: Literal["superseded", "held", "rejected"]
    reason: str
    deployed_image: str = ""


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
    scan_skipped: ScanBypass | None = None  # deployed without the scan gate, by whom and why
    scan: str = ""  # the scan's verdict and counts, e.g. "passed: 2 HIGH, 1 MEDIUM"


class RunCompleted(Envelope):
    type: Literal["RunCompleted"] = "RunCompleted"
    status: RunStatus
    repository: str = ""
    commit: str = ""
    services: dict[str, ServiceOutcome] = {}
    seconds: float = 0.0
    release: str = ""  # the version, for a release run
    release_notes: str = ""  # commits since the previous release, by conventional-commit type
    requested_by: str = ""  # the API token's name, for a run asked for through the API


AnyEvent = Annotated[
    PushReceived
    | BuildRequested
    | ReleaseRequested
    | DeployRequested
    | ChangeDetected
    | ImagePushed
    | BuildSuperseded
    | ScanPassed
    | ScanFailed
    | ManifestCommitted
    | StageFailed
    | RunCompleted
    | RollbackRequested
    | ReleaseReady
    | DeploymentSkipped
    | DeploymentVerified
    | DeploymentFailed
    | UnpinRequested
    | Unpinned
    | PromotionRequested
    | PullRequestOpened
    | PullRequestClosed,
    Field(discriminator="type"),
]
Event = Envelope

_adapter: TypeAdapter[AnyEvent] = TypeAdapter(AnyEvent)
EVENT_TYPES: tuple[str, ...] = tuple(
    kind.model_fields["type"].default for kind in get_args(get_args(AnyEvent)[0])
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

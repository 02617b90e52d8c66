"""The services table (`GET /api/v1/services`): what each configured repository deploys
right now, its last run, its pin and its live state in the cluster. The gateway builds it,
the CLI parses the API's answer into it; no FastAPI here, so both can import it.

Optional keys the gateway does not know are left unset (`problem`, `since`): the route
answers with `exclude_unset`, so they are absent from the JSON rather than null.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from services.common.events import RunStatus, ServiceStatus
from services.common.pins import Pin


class LastRun(BaseModel):
    """The newest run of the service, among the last 1000 runs."""

    run_id: str
    status: ServiceStatus  # the service's, in that run
    run_status: RunStatus | None
    image: str
    created_at: float | None


class LiveState(BaseModel):
    """What the cluster runs, as the verifier last saw it."""

    model_config = ConfigDict(extra="allow")
    image: str
    workload: str | None = None
    replicas: int | None = None
    ready_replicas: int | None = None
    updated_replicas: int | None = None
    rolled_out: bool | None = None
    application: str | None = None  # the Argo CD Application, its sync and health
    sync: str | None = None
    revision: str | None = None
    health: str | None = None
    observed_at: float | None = None
    matches_git: bool  # the cluster runs the image the manifest names


DriftState = Literal["in_sync", "behind", "unknown"]


class LastAttempt(BaseModel):
    """The last build sent for the service on its default branch, as its run has it."""

    run_id: str
    status: ServiceStatus
    reason: str | None = None  # absent unless it failed or was blocked


class Drift(BaseModel):
    """The service's deployed commit against its default branch (services/committer/drift.py):
    `in_sync` (its content at the head is the deployed one's), `behind` (a build would
    change it), `unknown` (no Shipline-Deployed trailer names it, or git lacks the commit)."""

    state: DriftState
    behind_by: int | None = None  # commits since `since` that change the service
    since: str | None = None  # the deployed commit, abbreviated
    last_attempt: LastAttempt | None = None
    retry_at: float | None = None  # when the reconciler builds it again (epoch seconds)


EnvironmentStatus = Literal["pending", "committed", "healthy", "failed", "missing"]


class PendingPullRequest(BaseModel):
    """A promotion's open pull request that will write the service into the environment
    once merged (services/common/promotion_pulls.py), and the run waiting for it."""

    number: int
    url: str
    run_id: str


class EnvironmentState(BaseModel):
    """What one environment (shipline.yaml `environments:`) runs of the service, as the
    committer recorded it after its last commit to the repository (`surveyed_at`), and how
    the newest run that wrote that image there went (`state`): `pending` (being written or
    verified), `committed` (written; no verification, or no run of it known), `healthy`
    (verified healthy on the environment's cluster), `failed` (its run failed), `missing`
    (no image: the manifest is missing or unreadable, or the environment keeps its
    manifests in another gitops repository or branch, not surveyed yet)."""

    name: str
    source: str | None  # the environment it is promoted from (null: the first)
    image: str | None
    digest: str | None  # the image's digest, as its run or its reference says (null: unknown)
    source_repository: str | None  # the repository and commit the image was built from
    source_commit: str | None
    since: float | None  # when the committer first recorded this image there (epoch seconds)
    state: EnvironmentStatus
    run_id: str | None  # the newest run that wrote this image there, when known
    # a run under way that will write this environment (a build not committed yet, a
    # promotion queued or waiting for its pull request's merge), when known
    incoming_run_id: str | None = None
    # a promotion's pull request awaiting its merge to write this environment (null: none)
    pending_pull_request: PendingPullRequest | None = None
    pinned: bool
    promotable: bool  # a Shipline deploy wrote it: the next environment may take it
    reason: str | None  # why it is not promotable (null when it is)
    surveyed_at: float


class ServiceState(BaseModel):
    repository: str
    service: str
    image: str | None  # null: the manifest is missing or unreadable (`problem` says why)
    manifest: str
    gitops_repository: str
    gitops_commit: str
    cluster: str | None
    problem: str | None = None  # only when `image` is null
    surveyed_at: float
    pinned: bool
    pin: Pin | None
    live: LiveState | None  # null: no cluster, or the verifier has not seen it yet
    last_run: LastRun | None
    deployed_commit: str | None = None  # the source commit it runs (null: unknown)
    desired_commit: str | None = None  # the commit a build brings it to
    behind_by: int | None = None
    drift: Drift | None = None  # absent from a survey made before drift was recorded
    # one per environment, in shipline.yaml's order; absent without `environments:` (the
    # fields above then describe the first environment, as without environments)
    environments: list[EnvironmentState] | None = None


class SurveyError(BaseModel):
    repository: str
    reason: str
    since: float | None = None  # when the failed survey ran (absent: never surveyed)


class ServicesTable(BaseModel):
    services: list[ServiceState]
    errors: list[SurveyError]

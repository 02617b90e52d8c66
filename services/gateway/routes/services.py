"""The services table: what each configured repository deploys right now."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from services.common.events import RunStatus, ServiceStatus
from services.common.pins import Pin
from services.gateway import inventory
from services.gateway.deps import RuntimeDep
from services.verifier.live import LiveStore

router = APIRouter(prefix="/api/v1/services", tags=["services"])


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


class SurveyError(BaseModel):
    repository: str
    reason: str
    since: float | None = None  # when the failed survey ran (absent: never surveyed)


class ServicesTable(BaseModel):
    services: list[ServiceState]
    errors: list[SurveyError]


# the rows hold exactly the keys inventory.list_services sets (`problem`, `since` only when known)
@router.get("", response_model=ServicesTable, response_model_exclude_unset=True)
def list_services(runtime: RuntimeDep) -> dict[str, Any]:
    """Every service with the image its manifest names at the gitops head, as the workers
    last surveyed it (`surveyed_at`), its last run, its pin and, with a cluster configured,
    its live state there (`live`: sync and health, ready replicas, the image running; null
    without a cluster or before the verifier saw it); `errors` lists the repositories not
    surveyed yet or whose last survey failed, and why.

    `image` is read with the committer's format readers (null, with a `problem`, when the
    manifest is missing or unreadable). The services and images are what the workers last
    read from git and recorded in Redis (the detector after each push to the default
    branch, the committer after each commit), so the gateway answers with no git and no
    network but Redis. A repository not surveyed yet has had no push to its default branch
    since Redis was empty; a failed survey keeps the services found before (`since`: when it
    failed)."""
    live = LiveStore(runtime.redis, keys=runtime.keyspace)
    return inventory.list_services(
        runtime.settings, runtime.inventory, runtime.runs, runtime.pins, live
    )

"""Promotions: what an environment runs moved to the next one (`shipline promote` talks to it).

The gateway has no git: it answers from what the committer last read of each environment
(services/common/environment_view.py) and queues a `PromotionRequested` that names the
services and the target environment only. The committer reads the image from the source
environment's manifest at the gitops head and decides again there (services/committer/
promote.py), so a view a moment old can at worst queue a run that fails with the reason.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.common.environment_view import EnvironmentsStore, EnvironmentsView, Running
from services.common.events import PromotionRequested, ServiceName
from services.common.logging import get_logger
from services.common.promotion import Already, Refused, decide_promotion
from services.common.settings import Repository
from services.gateway import manual
from services.gateway.api_models import RunStarted
from services.gateway.auth import ActorDep, permitted
from services.gateway.deps import BodyDep, RuntimeDep, parse_body
from services.gateway.intake import new_run_id
from services.gateway.routes.deployments import REPOSITORY

router = APIRouter(prefix="/api/v1", tags=["deployments"])
ENVIRONMENT = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"


class PromotionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    services: list[ServiceName] | None = Field(default=None, min_length=1, max_length=500)
    service: ServiceName | None = None
    to: str = Field(pattern=ENVIRONMENT)
    repository: str | None = Field(default=None, pattern=REPOSITORY)
    reason: str | None = Field(default=None, max_length=500)

    @model_validator(mode="after")
    def _services_or_service(self) -> PromotionRequest:
        if (self.services is None) == (self.service is None):
            raise ValueError("give services (a list) or service (one name), not both")
        return self

    @property
    def named(self) -> list[str]:
        return sorted(set(self.services or [self.service or ""]))


class NothingToPromote(BaseModel):
    """Every service named runs in the target what its source environment runs: no run."""

    run_id: None = None
    queued: bool = False
    environment: str
    images: dict[str, str]  # service → the image both environments run
    reason: str


@router.post(
    "/promotions",
    status_code=202,
    response_model=RunStarted,
    responses={200: {"model": NothingToPromote, "description": "nothing to promote: no run"}},
)
def promote(actor: ActorDep, body: BodyDep, runtime: RuntimeDep) -> JSONResponse:
    """Queued for the committer: each service's image in the environment `to` is promoted
    `from` (shipline.yaml `environments:`) is written, with the same tag (and digest), into
    `to`'s manifests in one commit `promote(<to>): <services> from <from> [skip ci]` (run
    trigger `promotion`). What is promoted is what git says the source environment runs; the
    request never names an image. `200` with `queued: false` when `to` already runs it for
    every service (no run); `409` with the reason when the source environment runs nothing
    promotable for a service (never deployed there by Shipline, its manifest last changed by
    hand) or the service is pinned; `422` an unknown environment, or the first one; `404` a
    service the last survey of the repository does not list; `403` a token without
    `promote:<to>` (or `promote`, `write`, `admin`), with the scope needed."""
    wanted = parse_body(PromotionRequest, body)
    caller = permitted(actor, "promote", wanted.to)
    try:
        repo = manual.pick_repository(runtime.settings, wanted.repository)
        for service in wanted.named:
            manual.find_service(runtime.settings, runtime.inventory, service, repo.name)
    except manual.ManualError as exc:
        raise HTTPException(exc.status, exc.reason) from None
    view = EnvironmentsStore(runtime.redis, keys=runtime.keyspace).read(repo.name)
    if view is not None:
        already = _checked(view, wanted.to, wanted.named)
        if already is not None:
            return JSONResponse(already.model_dump(mode="json"), 200)
    run_id = new_run_id()
    event = PromotionRequested(
        run_id=run_id,
        repository=repo.name,
        services=tuple(wanted.named),
        environment=wanted.to,
        requested_by=caller,
        reason=wanted.reason or "",
    )
    _start(runtime, event, repo, caller)
    get_logger(run_id=run_id).info(
        "promotion requested", by=caller, services=wanted.named, to=wanted.to
    )
    return JSONResponse({"run_id": run_id}, 202)


def _checked(view: EnvironmentsView, to: str, services: list[str]) -> NothingToPromote | None:
    """422 or 409 as the view says; the answer when every service runs there already."""
    target = view.find(to)
    if target is None:
        known = ", ".join(env.name for env in view.environments) or "none"
        raise HTTPException(422, f"no environment {to!r} in shipline.yaml (there are: {known})")
    if target.source is None:
        raise HTTPException(422, f"{to} is the first environment: pushes deploy there")
    source = view.find(target.source)
    if source is None or not target.services or not source.services:
        return None  # a view without them (recorded before it read every branch): git decides
    images: dict[str, str] = {}
    for service in services:
        decision = decide_promotion(
            service,
            source.name,
            to,
            source.services.get(service, Running(why_not="not in shipline.yaml")),
            target.services.get(service, Running()),
        )
        if isinstance(decision, Refused):
            raise HTTPException(409, decision.reason)
        if isinstance(decision, Already):
            images[service] = decision.image
    if len(images) < len(services):
        return None
    return NothingToPromote(
        environment=to,
        images=images,
        reason=f"{to} already runs what {source.name} runs: nothing to promote",
    )


def _start(runtime: RuntimeDep, event: PromotionRequested, repo: Repository, by: str) -> None:
    """Records the run with every service planned, then queues its event."""
    runtime.runs.create(
        event.run_id,
        trigger="promotion",
        provider="manual",
        repository=repo.name,
        pusher=by,
        ref=f"refs/heads/{repo.default_branch}",
        commit="",
        services=",".join(event.services),
        environment=event.environment,
    )
    runtime.runs.plan(event.run_id, list(event.services))
    runtime.bus.publish(event)

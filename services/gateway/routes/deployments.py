"""Manual deployments, rollbacks and pins: `shipline deploy|rollback|unpin` talk to these."""

from __future__ import annotations

from typing import Literal, TypeVar

from fastapi import APIRouter, HTTPException, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.common.events import ScanBypass, ServiceName, UnpinRequested
from services.common.logging import get_logger
from services.common.pins import Pin
from services.gateway import manual
from services.gateway.acted_environments import first_environment
from services.gateway.api_models import RunStarted
from services.gateway.auth import ActorDep, permitted
from services.gateway.deps import BodyDep, RuntimeDep, parse_body
from services.gateway.intake import new_run_id
from services.gateway.rollback_environments import ENVIRONMENT, acted_in, cached_as

router = APIRouter(prefix="/api/v1", tags=["deployments"])
M = TypeVar("M", bound=BaseModel)
TAG = manual.TAG
REPOSITORY = r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+$"
ServicePath = Path(pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


class DeploymentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    service: ServiceName
    tag: str = Field(pattern=TAG)
    repository: str | None = Field(default=None, pattern=REPOSITORY)
    skip_scan: bool = False  # an emergency bypass of the scan gate: needs a reason
    reason: str | None = Field(default=None, max_length=500)

    @model_validator(mode="after")
    def _bypass_needs_a_reason(self) -> DeploymentRequest:
        if self.skip_scan and not (self.reason and len(self.reason.strip()) >= 3):
            raise ValueError("skip_scan needs a reason (3+ characters)")
        return self


class RollbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    service: ServiceName
    to: str | None = Field(default=None, pattern=TAG)  # default: the image before the current
    repository: str | None = Field(default=None, pattern=REPOSITORY)
    environment: ServiceName | None = None  # where (its manifest, its pin); default: the first


class DeploymentQueued(BaseModel):
    run_id: str
    image: str | None  # the image the tag names (null: the service's repository is unknown)
    queue: Literal["detector"]


class PinState(BaseModel):
    service: str
    repository: str
    pinned: bool
    pin: Pin | None


class Unpinned(BaseModel):
    service: str
    repository: str
    unpinned: bool  # false: it was not pinned (as the cache knew)
    pin: Pin | None  # the pin removed
    run_id: str  # the run that removes the pin from the gitops repository


class Pins(BaseModel):
    pins: list[Pin]


@router.post("/deployments", status_code=202, response_model=DeploymentQueued)
def deploy(actor: ActorDep, body: BodyDep, runtime: RuntimeDep) -> JSONResponse:
    """Queued for the detector, which checks the tag in the registry (the run says so): the
    run (trigger `deploy`) starts with a `DeployRequested`; the detector checks the service
    in `shipline.yaml` (default branch), takes the digest of `<registry>/<service>:<tag>` from
    the registry (`registry_auth` used) and publishes an `ImagePushed` of that digest for the
    scanner, or skips the scan when `skip_scan` (with a `reason`, recorded with who asked).
    `image` is `<image repository>:<tag>` as last surveyed (null before the first survey). A
    manual deploy is not held by a pin and not superseded. A tag not in the registry, or a
    registry that refuses the credentials, fails the run with the reason. `404` a service the
    last survey of the repository does not list; `422` a bad body or an unconfigured
    repository; `403` a token without `deploy` for the first environment."""
    wanted = parse_body(DeploymentRequest, body)
    target = _service(runtime, wanted.service, wanted.repository)
    caller = permitted(actor, "deploy", first_environment(runtime, target.repository.name))
    run_id = new_run_id()
    bypass = ScanBypass(by=caller, reason=wanted.reason or "") if wanted.skip_scan else None
    event = manual.deployment(target, wanted.tag, run_id, caller, bypass)
    manual.start_run(runtime, manual.service_request(event, "deploy", target), caller)
    get_logger(run_id=run_id).info(
        "deployment requested", by=caller, service=wanted.service, tag=wanted.tag
    )
    image = f"{target.image_repository}:{wanted.tag}" if target.image_repository else None
    return JSONResponse({"run_id": run_id, "image": image, "queue": "detector"}, 202)


@router.post("/rollbacks", status_code=202, response_model=RunStarted)
def rollback(actor: ActorDep, body: BodyDep, runtime: RuntimeDep) -> JSONResponse:
    """Queued for the committer, which checks `to` in the registry (the run says so). The run
    (trigger `rollback`) writes the image deployed before the current one (from the
    manifest's git history) or `<image>:<to>` (its digest from the registry; a tag that is
    not there fails the run), commits `revert(<svc>): roll back <current> to <target> [skip
    ci]` and **pins** the service: automatic deploys wait until it is unpinned. `environment`
    (default: the first one) is where: that environment's manifest, and the pin holds the
    service there only (a rollback in production leaves staging deploying; promoting into a
    pinned environment is refused until it is unpinned there). `422` an environment
    shipline.yaml does not name (as the committer last recorded it); `403` a token without
    `rollback` for that environment."""
    wanted = parse_body(RollbackRequest, body)
    target = _service(runtime, wanted.service, wanted.repository)
    where = acted_in(runtime, target.repository.name, wanted.environment)
    caller = permitted(actor, "rollback", where)
    run_id = new_run_id()
    event = manual.rollback(target, wanted.to, run_id, caller, wanted.environment)
    manual.start_run(runtime, manual.service_request(event, "rollback", target), caller)
    get_logger(run_id=run_id).info("rollback requested", by=caller, service=wanted.service)
    return JSONResponse({"run_id": run_id}, 202)


def _service(runtime: RuntimeDep, service: str, repository: str | None) -> manual.Service:
    try:
        return manual.find_service(runtime.settings, runtime.inventory, service, repository)
    except manual.ManualError as exc:
        raise HTTPException(exc.status, exc.reason) from None


@router.post("/services/{service}/unpin", status_code=202, response_model=Unpinned)
def unpin(
    actor: ActorDep,
    runtime: RuntimeDep,
    service: str = ServicePath,
    repository: str | None = Query(None, pattern=REPOSITORY),
    environment: str | None = Query(None, pattern=ENVIRONMENT),
) -> JSONResponse:
    """Unpin the service: automatic deploys resume. The pin lives in the gitops repository
    (`.shipline-gitops/pins.yaml`), so the unpin is queued for the committer, which removes it in
    a commit `chore(<svc>): unpin <image> [skip ci]` (run `run_id`, trigger `unpin`; the
    service's outcome is `succeeded`, or `skipped` when git held no pin). The answer comes
    at once, from the cache of the pins in Redis, which the gateway clears now: `unpinned`
    says whether it was pinned there, `pin` is the pin removed. `?environment=` (default:
    the first one) removes the pin in that environment only; `422` one shipline.yaml does
    not name. `403` a token without `rollback` for that environment."""
    name = _repository_name(runtime, repository)
    where = acted_in(runtime, name, environment)
    caller = permitted(actor, "rollback", where)
    try:
        repo = manual.pick_repository(runtime.settings, name)
    except manual.ManualError as exc:
        raise HTTPException(exc.status, exc.reason) from None
    run_id = new_run_id()
    event = UnpinRequested(
        run_id=run_id,
        service=service,
        repository=name,
        requested_by=caller,
        environment=environment,
    )
    target = manual.Service(repo, service, None)
    manual.start_run(runtime, manual.service_request(event, "unpin", target), caller)
    pin = runtime.pins.unpin(name, service, cached_as(runtime, name, environment))
    get_logger(run_id=run_id).info(
        "unpin requested", by=caller, service=service, was_pinned=pin is not None
    )
    answer = Unpinned(
        service=service, repository=name, unpinned=pin is not None, pin=pin, run_id=run_id
    )
    return JSONResponse(answer.model_dump(mode="json"), 202)


@router.get("/services/{service}/pin")
def pin(
    runtime: RuntimeDep,
    service: str = ServicePath,
    repository: str | None = Query(None, pattern=REPOSITORY),
    environment: str | None = Query(None, pattern=ENVIRONMENT),
) -> PinState:
    """The service's pin (the image, who, the run, since when), if any, in `environment`
    (default: the first one)."""
    name = _repository_name(runtime, repository)
    current = runtime.pins.get(name, service, cached_as(runtime, name, environment))
    return PinState(service=service, repository=name, pinned=current is not None, pin=current)


@router.get("/pins")
def pins(runtime: RuntimeDep) -> Pins:
    """Every pinned service: the image it is held on, who pinned it, the run, since when."""
    return Pins(pins=list(runtime.pins.all()))


def _repository_name(runtime: RuntimeDep, repository: str | None) -> str:
    if repository is not None:
        return repository
    configured = runtime.settings.repositories
    if len(configured) != 1:
        raise HTTPException(422, "several repositories are configured: give ?repository=")
    return configured[0].name

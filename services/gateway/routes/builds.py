"""Forced builds: given services at a given commit or ref, changed or not."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.common.events import BuildRequested, ServiceName
from services.common.validation_messages import explain_validation
from services.gateway.acted_environments import first_environment
from services.gateway.api_models import DuplicateRun, RunStarted
from services.gateway.auth import ActorDep, permitted
from services.gateway.deps import BodyDep, IntakeDep, RuntimeDep, parse_body
from services.gateway.intake import new_run_id
from services.gateway.webhook import REF_PATTERN, SHA_PATTERN

router = APIRouter(prefix="/api/v1/builds", tags=["builds"])


class BuildRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    repository: str = Field(min_length=3, max_length=200)
    commit: str | None = Field(default=None, pattern=SHA_PATTERN)
    ref: str | None = Field(default=None, pattern=REF_PATTERN)
    services: list[ServiceName] = Field(min_length=1, max_length=500)


@router.post(
    "",
    status_code=202,
    response_model=RunStarted,
    responses={200: {"model": DuplicateRun, "description": "an Idempotency-Key seen before"}},
)
async def request_build(
    actor: ActorDep, request: Request, body: BodyDep, runtime: RuntimeDep, intake: IntakeDep
) -> JSONResponse:
    """A forced rebuild: the detector builds those services at that commit (a ref resolves to
    its head when the detector runs) with `reason: forced`, tagged like a push of that ref
    (`sha-<7>`, `latest` for the default branch's head, the version for a tag; only `sha-<7>`
    for a bare commit). An `Idempotency-Key` header makes a retry answer `200` with the first
    run. `400` not JSON; `422` a bad field or an unconfigured repository (unknown services
    fail the run, naming them); `403` a token without `deploy` for the first environment
    (a build deploys there); `503` Redis unreachable."""
    wanted = parse_body(BuildRequest, body)
    if runtime.settings.repository(wanted.repository) is None:
        raise HTTPException(422, f"repository {wanted.repository} is not configured")
    caller = permitted(actor, "deploy", first_environment(runtime, wanted.repository))
    idempotency = request.headers.get("idempotency-key")
    if idempotency is not None and not 0 < len(idempotency) <= 100:
        raise HTTPException(400, "Idempotency-Key must be 1 to 100 characters")
    run_id = new_run_id()
    try:
        event = BuildRequested(
            run_id=run_id,
            repository=wanted.repository,
            commit=wanted.commit,
            ref=wanted.ref,
            services=tuple(wanted.services),
            requested_by=caller,
        )
        started = await intake.start_run(
            event,
            ("api", idempotency) if idempotency else None,
            "forced",
            provider="manual",
            repository=event.repository,
            ref=event.ref or "",
            commit=event.commit or "",
            pusher=caller,
            services=",".join(event.services),
        )
    except ValidationError as exc:
        raise HTTPException(422, explain_validation(exc)) from None
    if started.duplicate:
        return JSONResponse(DuplicateRun(run_id=started.run_id).model_dump(), 200)
    return JSONResponse(RunStarted(run_id=run_id).model_dump(), 202)

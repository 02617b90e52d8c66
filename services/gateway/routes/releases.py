"""Release by hand: build every service at an existing release tag, as its tag push would.
The detector resolves the tag (the gateway has no git): a tag that is not there fails the run."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from services.common.events import ReleaseRequested
from services.gateway import manual
from services.gateway.acted_environments import release_environment
from services.gateway.auth import ActorDep, permitted
from services.gateway.deps import IntakeDep, RuntimeDep
from services.gateway.intake import Delivery, Intake, Started, new_run_id

router = APIRouter(prefix="/api/v1/releases", tags=["releases"])


class ReleaseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tag: str = Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
    repository: str | None = Field(default=None, min_length=3, max_length=200)


class ReleaseQueued(BaseModel):
    run_id: str
    tag: str
    queue: Literal["detector"]
    duplicate: Literal[True] | None = None  # only when the release had started already


ALREADY_STARTED: dict[int | str, dict[str, Any]] = {
    200: {
        "model": ReleaseQueued,
        "description": "That tag's release was already started (`duplicate`: true): its run",
    }
}


@router.post("", status_code=202, response_model=ReleaseQueued, responses=ALREADY_STARTED)
async def request_release(
    wanted: ReleaseRequest, actor: ActorDep, runtime: RuntimeDep, intake: IntakeDep
) -> JSONResponse:
    """Queues a `ReleaseRequested`: the detector fetches the repository, resolves the tag and
    detects the push that tag would have sent (`refs/tags/<tag>` at its commit; the run's
    `commit` is set then), so every service is built with the version and released in one
    commit when the tag matches `release_tags`. A tag that is not in the repository fails
    the run (`tag <tag> is not in <repository>`). The same tag again within a week answers
    `200` with the first run, unless that run failed (then a new run starts). `422` a bad tag
    or an unconfigured repository; `403` a token without `deploy` for the environment
    releases deploy to (`releases: true`, else the first); `503` Redis unreachable."""
    try:
        request = manual.release(
            runtime.settings, wanted.repository, wanted.tag, new_run_id(), actor.identity
        )
    except manual.ManualError as exc:
        raise HTTPException(exc.status, exc.reason) from None
    caller = permitted(actor, "deploy", release_environment(runtime, request.repository))
    key = ("release", f"{request.repository}:{request.tag}")
    started = await _start(intake, request, key, caller)
    if started.duplicate and _failed(runtime, started.run_id):  # e.g. the tag was not there yet
        started = await _start(intake, request, None, caller)
    answer = {"run_id": started.run_id, "tag": wanted.tag, "queue": "detector"}
    if started.duplicate:
        return JSONResponse({**answer, "duplicate": True}, 200)
    return JSONResponse(answer, 202)


async def _start(
    intake: Intake, request: ReleaseRequested, key: Delivery | None, by: str
) -> Started:
    return await intake.start_run(
        request,
        key,
        "tag",
        provider="manual",
        repository=request.repository,
        ref=f"refs/tags/{request.tag}",
        commit="",
        pusher=by,
    )


def _failed(runtime: RuntimeDep, run_id: str) -> bool:
    run = runtime.runs.get(run_id)
    return run is not None and run.status == "failed"

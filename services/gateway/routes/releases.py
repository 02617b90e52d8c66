"""Release by hand: build every service at an existing release tag, as its tag push would."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from services.gateway import manual
from services.gateway.auth import CallerDep
from services.gateway.deps import IntakeDep, RuntimeDep
from services.gateway.intake import delivery_key, new_run_id

router = APIRouter(prefix="/api/v1/releases", tags=["releases"])


class ReleaseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tag: str = Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
    repository: str | None = Field(default=None, min_length=3, max_length=200)


@router.post("", status_code=202)
async def request_release(
    wanted: ReleaseRequest, caller: CallerDep, runtime: RuntimeDep, intake: IntakeDep
) -> JSONResponse:
    try:  # reads the tag from the remote with git: off the event loop
        push = await run_in_threadpool(
            manual.release_push,
            runtime.settings,
            wanted.repository,
            wanted.tag,
            new_run_id(),
            caller,
        )
    except manual.ManualError as exc:
        raise HTTPException(exc.status, exc.reason) from None
    started = await intake.start_run(
        push,
        delivery_key("release", f"{push.repository}:{push.delivery_id}"),
        "tag",
        provider="manual",
        repository=push.repository,
        ref=push.ref,
        commit=push.after,
        pusher=caller,
    )
    answer = {"run_id": started.run_id, "tag": wanted.tag, "commit": push.after}
    if started.duplicate:
        return JSONResponse({**answer, "duplicate": True}, 200)
    return JSONResponse(answer, 202)

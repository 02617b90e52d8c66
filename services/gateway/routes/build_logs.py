"""The tail of a service's build log in a run, as the builder wrote it to the shared workdir."""

from __future__ import annotations

from pathlib import Path as FilePath
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Response
from fastapi.responses import PlainTextResponse

from services.builder.logs import build_log_path
from services.gateway.deps import RuntimeDep

router = APIRouter(prefix="/api/v1/runs", tags=["builds"])
RunId = Path(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
ServiceName = Path(pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
MAX_TAIL_BYTES = 256 * 1024


@router.get(
    "/{run_id}/services/{service}/build-log",
    response_class=Response,  # not PlainTextResponse: refusals are JSON (api_models.ApiError)
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
def build_log(
    runtime: RuntimeDep,
    run_id: str = RunId,
    service: str = ServiceName,
    lines: Annotated[int, Query(ge=1, le=2000)] = 200,
) -> PlainTextResponse:
    """The last `lines` lines of the build log (every attempt of the build in that run), as
    the builder wrote it under the workdir. `404` an unknown run, or no log of the service in
    that run in this gateway's workdir."""
    if runtime.runs.get(run_id) is None:
        raise HTTPException(404, f"run {run_id} not found")
    path = build_log_path(runtime.settings.workdir, run_id, service)
    if not path.is_file():
        raise HTTPException(404, f"no build log of {service} in run {run_id} in this workdir")
    return PlainTextResponse(tail(path, lines))


def tail(path: FilePath, lines: int) -> str:
    """The last `lines` lines, read from at most the last MAX_TAIL_BYTES of the file."""
    with path.open("rb") as log:
        log.seek(0, 2)
        size = log.tell()
        log.seek(max(0, size - MAX_TAIL_BYTES))
        data = log.read()
    kept = data.decode("utf-8", errors="replace").splitlines()
    if size > MAX_TAIL_BYTES:
        kept = kept[1:]  # the first line was probably cut
    return "\n".join(kept[-lines:]) + "\n"

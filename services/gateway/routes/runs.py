"""Read-only views of runs and their events."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Path

from services.gateway.deps import RuntimeDep

router = APIRouter(prefix="/api/v1/runs", tags=["runs"])
RunId = Path(pattern=r"^[A-Za-z0-9_.-]{1,64}$")


@router.get("")
def list_runs(runtime: RuntimeDep, limit: int = 50) -> dict[str, Any]:
    return {"runs": runtime.runs.list(limit=max(1, min(limit, 500)))}


@router.get("/{run_id}")
def get_run(runtime: RuntimeDep, run_id: str = RunId) -> dict[str, Any]:
    run = runtime.runs.get(run_id)
    if run is None:
        raise HTTPException(404, f"run {run_id} not found")
    return run


@router.get("/{run_id}/events")
def run_events(runtime: RuntimeDep, run_id: str = RunId) -> dict[str, Any]:
    if runtime.runs.get(run_id) is None:
        raise HTTPException(404, f"run {run_id} not found")
    return {"events": [event for _, event in runtime.event_log.for_run(run_id)]}

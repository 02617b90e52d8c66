"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from services.gateway.deps import RuntimeDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
def readyz(runtime: RuntimeDep) -> JSONResponse:
    try:
        runtime.redis.ping()
    except Exception:  # noqa: BLE001 - any failure to reach Redis means not ready
        return JSONResponse({"status": "unavailable", "redis": "unreachable"}, 503)
    return JSONResponse({"status": "ok"})

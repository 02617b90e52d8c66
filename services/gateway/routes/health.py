"""Liveness and readiness.

/readyz answers 200 only when webhooks can be taken: Redis answers, is a version Shipline
supports, and the intake script (start_run.lua) loads there. It is probed often, so each
probe costs one PING; the version and the script are looked at again once a minute (every
few seconds while they fail).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from services.common.logging import redact_url_credentials
from services.doctor.redis_check import (
    RedisFacts,
    probe_client,
    server_version,
    version_problem,
)
from services.gateway.deps import RuntimeDep

router = APIRouter(tags=["health"])
RECHECK_OK_SECONDS = 60.0
RECHECK_FAILED_SECONDS = 5.0


class Health(BaseModel):
    status: Literal["ok"]


class Component(BaseModel):
    status: Literal["ok", "unavailable"]
    detail: str | None = None
    version: str | None = None


class Readiness(BaseModel):
    status: Literal["ok", "unavailable"]
    components: dict[str, Component]


@dataclass
class _IntakeCheck:
    """The last look at the server's version and the intake script, per app."""

    facts: RedisFacts | None = None
    checked_at: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fresh(self, now: float) -> bool:
        if self.facts is None:
            return False
        failed = self.facts.unreachable or self.facts.script_error
        age = now - self.checked_at
        return age < (RECHECK_FAILED_SECONDS if failed else RECHECK_OK_SECONDS)


@router.get("/healthz")
def healthz() -> Health:
    """The process is up (it asks nothing of Redis: a liveness probe)."""
    return Health(status="ok")


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
def readyz(request: Request, runtime: RuntimeDep) -> JSONResponse:
    """Whether webhooks can be taken: `200` when they can, `503` naming the component that
    is `unavailable` otherwise (each status is `ok` or `unavailable`): Redis unreachable, or
    the intake (a Redis version below 6.2 / Valkey 7.2, or the intake script does not load,
    e.g. an ACL without `+@scripting`). Each probe is one PING; the version and the script
    are checked again once a minute (every 5 s while they fail)."""
    try:
        runtime.redis.ping()
    except Exception as exc:  # noqa: BLE001 - any failure to reach Redis means not ready
        why = f"unreachable: {type(exc).__name__}"
        return _answer(
            {
                "redis": Component(status="unavailable", detail=why),
                "intake": Component(status="unavailable", detail="needs Redis"),
            }
        )
    check = _intake_check(request)
    with check.lock:
        now = time.monotonic()
        if not check.fresh(now):
            where = redact_url_credentials(runtime.redis_url)
            check.facts, check.checked_at = probe_client(runtime.redis, where), now
        facts = check.facts
    assert facts is not None
    return _answer(_components(facts))


def _components(facts: RedisFacts) -> dict[str, Component]:
    if facts.unreachable is not None:
        return {
            "redis": Component(status="unavailable", detail=f"unreachable: {facts.unreachable}"),
            "intake": Component(status="unavailable", detail="needs Redis"),
        }
    name, version = server_version(facts.info)
    redis = Component(status="ok", version=f"{name} {version}")
    problem = version_problem(facts.info)
    if problem is not None:
        intake = Component(status="unavailable", detail=problem)
    elif facts.script_error is not None:
        intake = Component(
            status="unavailable", detail=f"start_run.lua does not load: {facts.script_error}"
        )
    else:
        intake = Component(status="ok")
    return {"redis": redis, "intake": intake}


def _answer(components: dict[str, Component]) -> JSONResponse:
    ready = all(component.status == "ok" for component in components.values())
    body = Readiness(status="ok" if ready else "unavailable", components=components)
    return JSONResponse(body.model_dump(exclude_none=True), 200 if ready else 503)


def _intake_check(request: Request) -> _IntakeCheck:
    state = request.app.state
    with _CREATING:
        if not hasattr(state, "intake_check"):
            state.intake_check = _IntakeCheck()
    check: _IntakeCheck = state.intake_check
    return check


_CREATING = threading.Lock()

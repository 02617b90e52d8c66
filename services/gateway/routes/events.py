"""Publish any event by hand: e.g. an ImagePushed of an existing image redeploys it."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from fastapi.responses import JSONResponse

from services.common.bus import stages_for
from services.common.errors import EventDecodeError
from services.common.events import decode_event
from services.common.logging import get_logger
from services.common.manual_events import mentioned_repositories, publish_by_hand
from services.gateway.auth import CallerDep
from services.gateway.deps import BodyDep, RuntimeDep

router = APIRouter(prefix="/api/v1/events", tags=["events"])


@router.post("", status_code=202)
def publish_event(caller: CallerDep, body: BodyDep, runtime: RuntimeDep) -> JSONResponse:
    try:
        event = decode_event(body)
    except EventDecodeError as exc:
        raise HTTPException(422, str(exc)) from None
    unknown = [r for r in mentioned_repositories(event) if runtime.settings.repository(r) is None]
    if unknown:
        raise HTTPException(422, f"repository {unknown[0]} is not configured")
    answer = {
        "run_id": event.run_id,
        "event_id": str(event.event_id),
        "queue": stages_for(event)[0],
    }
    queued = publish_by_hand(runtime, event, requested_by=caller)
    if not queued:
        return JSONResponse({**answer, "duplicate": True}, 200)
    get_logger(run_id=event.run_id).info("event published by hand", by=caller, type=event.type)
    return JSONResponse(answer, 202)

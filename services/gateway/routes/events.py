"""Requests by hand, as events: a build, a redeploy of an image in the registry, a rollback.

Only these triggers are accepted, each rebuilt from configuration (services/gateway/manual.py)
and queued for the worker that resolves it (a redeploy: the detector, as a DeployRequested);
a stage's outcome is refused with 422. Every hand event
starts a run of its own: a `run_id` that names an existing run gets 409.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from services.common import manual_events
from services.common.bus import stages_for
from services.common.errors import EventDecodeError
from services.common.events import decode_event
from services.common.logging import get_logger
from services.gateway import manual
from services.gateway.auth import CallerDep
from services.gateway.deps import BodyDep, RuntimeDep
from services.gateway.json_body import InvalidJson, decode_json

router = APIRouter(prefix="/api/v1/events", tags=["events"])


class EventQueued(BaseModel):
    run_id: str
    event_id: str
    queue: str = Field(description="the stage that takes the event first, e.g. detector")


class DuplicateEvent(EventQueued):
    """This event id was published before: nothing queued again."""

    duplicate: Literal[True] = True


@router.post(
    "",
    status_code=202,
    response_model=EventQueued,
    responses={200: {"model": DuplicateEvent, "description": "published before"}},
)
def publish_event(caller: CallerDep, body: BodyDep, runtime: RuntimeDep) -> JSONResponse:
    """A request as an event (services/common/events.py): `BuildRequested`, `ImagePushed` (a
    redeploy: the service's own image repository, a tag in the registry, the registry's
    digest) or `RollbackRequested`, rebuilt from configuration, the requester being the
    caller's token. A redeploy is queued for the detector as a `DeployRequested`, which checks
    the tag and digest in the registry and then starts the deploy at the scanner; a
    rollback's `to` is looked up by the committer (the gateway has no git and no registry
    access). The run is created (trigger `forced`, `deploy` or `rollback`) with its
    `repository`, so it counts as its service's last run in `/api/v1/services`; a redeploy
    deploys the image it names like `POST /api/v1/deployments`, even an older one than the
    deployed image and even while the service is pinned (the pin stays). `event_id` is the
    published event's, derived from the sent one; the same `event_id` again answers `200`,
    nothing queued. `422` a stage's outcome (the reason names what may be published;
    `ReleaseRequested` and `DeployRequested` are queued by the API itself), an invalid event
    (the reason names the field), an unconfigured repository or another image repository
    than the service's (as last surveyed); `404` a service the last survey of the repository
    does not list; `409` a `run_id` that exists; `503` Redis unreachable. A tag not in the
    registry, or a digest the registry does not have for the tag, fails the run with that
    reason."""
    refused = manual_events.refusal(_type_of(body))  # before its fields: never an outcome
    if refused:
        raise HTTPException(422, refused)
    try:
        sent = decode_event(body)
    except EventDecodeError as exc:
        raise HTTPException(422, str(exc)) from None
    event_id = manual_events.published_id(sent)
    try:
        inventory = runtime.inventory
        request = manual.hand_request(runtime.settings, inventory, sent, event_id, caller)
    except manual.ManualError as exc:
        raise HTTPException(exc.status, exc.reason) from None
    event = request.event
    answer = EventQueued(run_id=event.run_id, event_id=str(event_id), queue=stages_for(event)[0])
    if manual_events.already_published(runtime.redis, runtime.keyspace, event):
        return JSONResponse(DuplicateEvent(**answer.model_dump()).model_dump(), 200)
    exists = runtime.runs.get(event.run_id) is not None
    if not manual_events.claim_run(runtime.redis, runtime.keyspace, event.run_id, event_id, exists):
        raise HTTPException(
            409,
            f"run {event.run_id} exists: an event by hand starts a run of its own (a new run_id)",
        )
    manual.start_run(runtime, request, caller)
    get_logger(run_id=event.run_id).info("event published by hand", by=caller, type=event.type)
    return JSONResponse(answer.model_dump(), 202)


def _type_of(body: bytes) -> str:
    try:
        data = decode_json(body)
    except InvalidJson as exc:
        raise HTTPException(422, f"invalid event: {exc.reason}") from None
    kind = data.get("type") if isinstance(data, dict) else None
    return kind if isinstance(kind, str) else ""

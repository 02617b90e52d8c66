"""Every run's events, live: the stream the dashboard follows to update without reloading."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import StreamingResponse

from services.gateway import event_stream
from services.gateway.deps import RuntimeDep

router = APIRouter(prefix="/api/v1/events", tags=["events"])


@router.get(
    "/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {event_stream.MEDIA_TYPE: {}}}},
)
def stream_all_events(
    request: Request,
    runtime: RuntimeDep,
    last_event_id: Annotated[str | None, Header(pattern=r"^\d{1,20}-\d{1,20}$")] = None,
) -> StreamingResponse:
    """Server-sent events of every run (`id` the global stream entry, `event` the type), from
    now on, or after `Last-Event-ID` when a client reconnects; never ends by itself."""
    after = last_event_id or runtime.event_log.last_global_id()
    return StreamingResponse(
        event_stream.all_events(request, runtime.event_log, after),
        media_type=event_stream.MEDIA_TYPE,
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )

"""Every run's events, live: the stream the dashboard follows to update without reloading."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from services.gateway import event_stream
from services.gateway.deps import RuntimeDep

router = APIRouter(prefix="/api/v1/events", tags=["events"])


@router.get(
    "/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {event_stream.MEDIA_TYPE: {}}}, **event_stream.TOO_MANY},
)
def stream_all_events(
    request: Request,
    runtime: RuntimeDep,
    live: event_stream.LiveStreamsDep,
    last_event_id: event_stream.LastEventId = None,
) -> StreamingResponse:
    """Server-sent events of every run (`id` the global stream entry, `event` the type), from
    now on, or after `Last-Event-ID` when a client reconnects; never ends by itself (the
    dashboard follows it). 429 when the client (address or token) or the server has too many
    streams open (`limits.event_streams_*`)."""
    after = last_event_id or runtime.event_log.last_global_id()
    slot = live.open(request)
    return event_stream.response(event_stream.all_events(request, live, after), slot)

"""Read-only views of runs and their events."""

from __future__ import annotations

from itertools import islice
from typing import Annotated, Any, get_args

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from services.common.events import RunStatus
from services.common.run_models import Run, RunDetail, RunPage
from services.gateway import event_stream
from services.gateway.deps import RuntimeDep
from services.gateway.run_views import (
    BadQuery,
    Cursor,
    after_cursor,
    matches,
    parse_since,
    timeline,
)

router = APIRouter(prefix="/api/v1/runs", tags=["runs"])
RunId = Path(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
FINAL_RUN_STATUSES = tuple(set(get_args(RunStatus)) - {"queued", "running", "awaiting-merge"})
SERVICE_NAME = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"


class RunEvents(BaseModel):
    """The run's events, oldest first, each as published (its `type` says which)."""

    events: list[dict[str, Any]]


@router.get("")
def list_runs(
    runtime: RuntimeDep,
    service: Annotated[str | None, Query(pattern=SERVICE_NAME)] = None,
    status: RunStatus | None = None,
    since: Annotated[
        str | None, Query(description="ISO 8601 time or seconds since the epoch")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> RunPage:
    """Runs newest first, filtered; `next_cursor` fetches the next page (null: no more):
    `?cursor=<next_cursor>` with the same filters. `?since=` takes ISO 8601 (e.g.
    `2026-11-28T18:00:00Z`) or seconds since the epoch. `422` a filter or cursor it cannot
    read."""
    try:
        earliest = parse_since(since) if since is not None else None
        start = Cursor.decode(cursor) if cursor is not None else None
    except BadQuery as exc:
        raise HTTPException(422, str(exc)) from None
    at_or_before = start.created_at if start else None
    entries = runtime.runs.index.filtered(service, status, at_or_before, earliest)
    if entries is None:
        entries = runtime.runs.newest_first(at_or_before=at_or_before, since=earliest)
    page: list[tuple[str, Run, float]] = []
    next_cursor = None
    candidates = after_cursor(entries, start)
    # read together, as many as could still fill the page and tell whether there is more
    while next_cursor is None and (chunk := list(islice(candidates, limit + 1 - len(page)))):
        read = runtime.runs.get_many([run_id for run_id, _ in chunk])
        for run_id, created_at in chunk:
            run = read[run_id]
            if run is None or not matches(run, service, status):
                continue
            if len(page) == limit:
                last_id, _, last_at = page[-1]
                next_cursor = Cursor(last_at, last_id).encode()
                break
            page.append((run_id, run, created_at))
    return RunPage(runs=[run for _, run, _ in page], next_cursor=next_cursor)


@router.get("/{run_id}")
def get_run(runtime: RuntimeDep, run_id: str = RunId) -> RunDetail:
    """The run, its services (status, stage, image with its tag, digest, reason, gitops
    commit, timings per stage) and a timeline per service: its stages in pipeline order, each
    with a `state` (`done`, `running`, or the service's final status at the stage that ended
    it). `message` is a push's head commit subject. `404` an unknown run."""
    run = runtime.runs.get(run_id)
    if run is None:
        raise HTTPException(404, f"run {run_id} not found")
    return RunDetail(**dict(run), timeline=timeline(run))


@router.get(
    "/{run_id}/events",
    response_model=None,
    responses={
        200: {"model": RunEvents, "content": {event_stream.MEDIA_TYPE: {}}},
        **event_stream.TOO_MANY,
    },
)
def run_events(
    request: Request,
    runtime: RuntimeDep,
    live: event_stream.LiveStreamsDep,
    run_id: str = RunId,
    stream: Annotated[bool, Query(description="server-sent events, live")] = False,
    last_event_id: event_stream.LastEventId = None,
) -> dict[str, Any] | StreamingResponse:
    """The run's events as JSON; with `Accept: text/event-stream` (or `?stream=1`) a live
    stream of server-sent events (`id` the stream entry, `event` the type, `data` the event),
    past events first, that ends after RunCompleted (or at once when the run has ended) and
    resumes after `Last-Event-ID`; a `: keep-alive` comment every 2 s while nothing happens
    (429 when the client, by address or token, or the server has too many streams open:
    `limits.event_streams_*`). `404` an unknown run."""
    if runtime.runs.get(run_id) is None:
        raise HTTPException(404, f"run {run_id} not found")
    if not event_stream.wants_stream(request, stream):
        return {"events": [event for _, event in runtime.event_log.for_run(run_id)]}

    async def finished() -> bool:
        return await live.run_status(run_id) in FINAL_RUN_STATUSES

    slot = live.open(request)
    events = event_stream.run_events(request, live, run_id, finished, after=last_event_id or "-")
    return event_stream.response(events, slot)

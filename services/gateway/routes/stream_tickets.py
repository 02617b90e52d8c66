"""POST /api/v1/stream-tickets: a short-lived ticket for one event stream (stream_tickets.py),
for clients that cannot send an Authorization header, a browser's EventSource above all."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from services.gateway import stream_tickets
from services.gateway.auth import TICKET_PARAMETER, Caller
from services.gateway.deps import RuntimeDep

router = APIRouter(prefix="/api/v1/stream-tickets", tags=["events"])


class TicketRequest(BaseModel):
    path: str = Field(
        pattern=stream_tickets.STREAM_PATH.pattern,
        description="the stream to open: /api/v1/events/stream or /api/v1/runs/{run_id}/events",
        examples=["/api/v1/events/stream"],
    )


class Ticket(BaseModel):
    ticket: str | None = Field(description="null when reads are public: open the stream as is")
    url: str = Field(description="the stream's path with the ticket as its query")
    expires_in: int = Field(description="seconds the ticket opens the stream for")


@router.post("", response_model=Ticket)
def create_stream_ticket(wanted: TicketRequest, request: Request, runtime: RuntimeDep) -> Ticket:
    """A ticket worth `expires_in` seconds (60) for opening `path`, `/api/v1/events/stream`
    or `/api/v1/runs/{run_id}/events` (`422` any other): open `url`, the path with `?ticket=`.
    The stream stays open after the ticket expires; a reconnection needs a fresh one (`401`
    with an expired one). Needs a bearer token (any scope): the ticket is an HMAC-SHA256 keyed
    by the token over the path and the expiry, good for that one stream path only, verified
    by any gateway replica from the settings alone, and revoked with its token. With
    `public_read` and no token: `{"ticket": null, "url": path, "expires_in": 0}`."""
    caller: Caller | None = request.state.caller
    if caller is None:  # public_read: nothing to sign with, nothing needed
        return Ticket(ticket=None, url=wanted.path, expires_in=0)
    tokens = runtime.settings.api_tokens
    ticket = stream_tickets.mint(tokens, caller.index, wanted.path, time.time())
    url = f"{wanted.path}?{TICKET_PARAMETER}={ticket}"
    return Ticket(ticket=ticket, url=url, expires_in=stream_tickets.TICKET_SECONDS)

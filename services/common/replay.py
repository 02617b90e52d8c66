"""Republishing a dead letter (API and `shipline publish --from-dead-letter`).

The event goes back on its stage's queue under a new event id (derived from the original
and the replay's number): the stages remember the original id as finished, so under its
own id it would be ignored as a duplicate. When the event advances a service, that service
of its run is reopened, so the run completes, and is reported, once more.
"""

from __future__ import annotations

import uuid

from services.common.bus import ROUTES
from services.common.errors import EventDecodeError, ShiplineError
from services.common.events import Envelope, decode_event
from services.common.runtime import Runtime


class DeadLetterNotFound(ShiplineError):
    """No dead letter has this id."""


class NotReplayable(ShiplineError):
    """The dead letter's payload is not a valid event (a poison message): nothing to publish."""


def republish(runtime: Runtime, letter_id: str) -> Envelope:
    """Queue the dead letter's event again; returns the event as published."""
    store = runtime.dead_letters
    letter = store.get(letter_id)
    if letter is None:
        raise DeadLetterNotFound(f"no dead letter {letter_id}")
    try:
        event = decode_event(letter.payload)
    except EventDecodeError as exc:
        raise NotReplayable(f"dead letter {letter_id} holds no valid event: {exc}") from None
    replay = store.mark_replayed(letter_id)
    fresh = event.model_copy(
        update={"event_id": uuid.uuid5(event.event_id, f"replay:{letter_id}:{replay}")}
    )
    if ROUTES[fresh.type] != "notifier":
        runtime.runs.reopen(fresh.run_id, getattr(fresh, "service", None))
    runtime.bus.publish(fresh)
    return fresh

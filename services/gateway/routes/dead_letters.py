"""Dead letters: the events the stages gave up on, for operators to read and republish."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import BaseModel, Field

from services.common.bus import ROUTES
from services.common.deadletters import LETTER_ID_PATTERN, DeadLetter
from services.common.logging import get_logger
from services.common.replay import DeadLetterNotFound, NotReplayable, republish
from services.gateway.auth import CallerDep, ReaderDep
from services.gateway.deps import RuntimeDep

router = APIRouter(prefix="/api/v1/dead-letters", tags=["dead-letters"])
LetterId = Annotated[str, Path(pattern=LETTER_ID_PATTERN)]


class DeadLetterPage(BaseModel):
    dead_letters: list[DeadLetter]
    total: int = Field(description="every dead letter kept, not only this page")


class Republished(BaseModel):
    dead_letter: str
    run_id: str
    event_id: str = Field(description="the new event id the event was queued under")
    queue: str


@router.get("")
def list_dead_letters(
    _reader: ReaderDep,
    runtime: RuntimeDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> DeadLetterPage:
    """Dead letters newest first, with why each stage gave up on its event: `cause` is
    `undecodable`, `wrong-stage`, `permanent` or `retries-exhausted`; `payload` is the message
    as it arrived; `republish` the command that queues it again
    (`shipline publish --from-dead-letter ID`)."""
    letters = runtime.dead_letters.newest_first(limit, offset)
    return DeadLetterPage(dead_letters=letters, total=runtime.dead_letters.count())


@router.get("/{letter_id}")
def get_dead_letter(letter_id: LetterId, _reader: ReaderDep, runtime: RuntimeDep) -> DeadLetter:
    """One dead letter, as the list shows it; `404` for an unknown id."""
    letter = runtime.dead_letters.get(letter_id)
    if letter is None:
        raise HTTPException(404, f"no dead letter {letter_id}")
    return letter


@router.post("/{letter_id}/republish", status_code=202)
def republish_dead_letter(
    letter_id: LetterId, caller: CallerDep, runtime: RuntimeDep
) -> Republished:
    """Queue the letter's event again under a new event id (derived from the original and
    the replay's number); its service's run is reopened, so it completes and is reported once
    more. `404` an unknown id, `409` a poison message (no valid event to publish)."""
    try:
        event = republish(runtime, letter_id)
    except DeadLetterNotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except NotReplayable as exc:
        raise HTTPException(409, str(exc)) from None
    get_logger(run_id=event.run_id).info(
        "dead letter republished", dead_letter=letter_id, by=caller, type=event.type
    )
    return Republished(
        dead_letter=letter_id,
        run_id=event.run_id,
        event_id=str(event.event_id),
        queue=ROUTES[event.type],
    )

"""What every stage shares: decode, log context, dedupe, run bookkeeping, retries, publish.

A stage supplies a :class:`StageDefinition`: the events it consumes and a factory that
builds its handler (a plain callable from an event to the events it produces) from the
runtime. The runner wraps that handler once, so no stage repeats this logic.
"""

from __future__ import annotations

import random
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from services.common.after_publish import Work, deferring
from services.common.bus import BROKER_ERRORS
from services.common.deadletters import Cause, republish_command
from services.common.errors import EventDecodeError, PermanentError, TransientError
from services.common.events import Envelope, StageFailed, decode_event, encode_event
from services.common.logging import bound_context, get_logger
from services.common.retries import describe_duration, next_delay
from services.common.runtime import Runtime

Handler = Callable[[Envelope], Sequence[Envelope]]
DONE_TTL = 7 * 24 * 3600
CLAIM_RELEASE_SECONDS = 60  # longer than a Sentinel failover takes


@dataclass(frozen=True)
class StageDefinition:
    name: str
    consumes: tuple[type[Envelope], ...]
    factory: Callable[[Runtime], Handler]
    tracks_service: bool = True  # False for the notifier: it reports, it does not advance a service
    reports_failures: bool = (
        True  # False for the notifier: its own failures must not loop back to it
    )
    # "threads" for a stage whose tasks mostly wait (the verifier): they then share what the
    # handler holds, e.g. one cluster watch per process, instead of one per forked child.
    pool: str = "prefork"
    eager: bool = False  # build the handler when the worker starts, not on the first event
    # a thread the stage's worker runs beside its tasks (the scanner's code-scanning
    # follow-up); returns the function that stops it, or None when it has nothing to do
    background: Callable[[Runtime], Callable[[], None] | None] | None = None


class RetryLater(Exception):  # noqa: N818 - a control-flow signal for the Celery adapter
    """Deliver the event again in `countdown` seconds; `failing_since` (unix time of its
    first transient failure, None if it has not failed) travels with it: the retry budget
    counts from there."""

    def __init__(self, countdown: float, failing_since: float | None = None) -> None:
        super().__init__(f"retry in {countdown:.1f}s")
        self.countdown = countdown
        self.failing_since = failing_since


def backoff(attempt: int, base: float = 1.0, cap: float = 60.0) -> float:
    """Exponential backoff with full jitter."""
    return random.uniform(0, min(cap, base * 2 ** (attempt - 1)))  # noqa: S311


@dataclass
class StageRunner:
    definition: StageDefinition
    runtime: Runtime
    _handler: Handler | None = field(default=None, init=False)

    @property
    def handler(self) -> Handler:
        if self._handler is None:
            self._handler = self.definition.factory(self.runtime)
        return self._handler

    def process(self, payload: str, attempt: int = 1, failing_since: float | None = None) -> None:
        stage = self.definition.name
        log = get_logger(stage=stage)
        try:
            event = decode_event(payload)
        except EventDecodeError as exc:
            letter = self.runtime.dead_letters.add(
                stage=stage,
                cause="undecodable",
                error_class=type(exc).__name__,
                message=str(exc),
                attempts=attempt,
                payload=payload if isinstance(payload, str) else repr(payload),
            )
            log.error("event rejected, dead-lettered", error=str(exc), dead_letter=letter.id)
            return
        if not isinstance(event, self.definition.consumes):
            letter_id = self._dead_letter(event, "wrong-stage", "WrongStage", event.type, attempt)
            log.error("event not for this stage", event_type=event.type, dead_letter=letter_id)
            return
        service = getattr(event, "service", None)
        with bound_context(run_id=event.run_id, service=service, stage=stage):
            self._process(event, service, attempt, failing_since)

    def _process(
        self, event: Envelope, service: str | None, attempt: int, failing_since: float | None
    ) -> None:
        stage, redis = self.definition.name, self.runtime.redis
        log = get_logger()
        done_key = self.runtime.keyspace.stage_done(stage, event.event_id)
        claim_key = self.runtime.keyspace.stage_claim(stage, event.event_id)
        # Claim first, then look for the done marker: the other order lets a duplicate slip in
        # between a finishing worker's "done" and its releasing the claim. One pipeline: Redis
        # runs its commands in this order, in one round trip.
        claiming = redis.pipeline(transaction=False)
        claiming.set(claim_key, 1, nx=True, ex=self.runtime.settings.visibility_timeout)
        claiming.exists(done_key)
        claimed, done = claiming.execute()
        if not claimed:
            log.info(
                "event is being handled elsewhere; will look again", event_id=str(event.event_id)
            )
            raise RetryLater(5 + backoff(attempt), failing_since)
        released = False
        try:
            if done:
                log.info("duplicate delivery ignored", event_id=str(event.event_id))
                return
            if self.definition.tracks_service:
                self.runtime.runs.stage_started(event.run_id, service, stage)
            log.info("handling", event_type=event.type, attempt=attempt)
            afterwards: list[Work] = []
            outputs = self._call(event, service, attempt, failing_since, afterwards)
            for output in outputs:
                self.runtime.bus.publish(output)
            self._do_afterwards(afterwards)
            finishing = redis.pipeline(transaction=False)  # done, then released: one round trip
            finishing.set(done_key, 1, ex=DONE_TTL)
            finishing.delete(claim_key)
            finishing.execute()
            released = True
        finally:
            if not released:
                self._release(claim_key)

    def _release(self, claim_key: str) -> None:
        """Delete the claim, waiting out a short Redis outage (a Sentinel failover): a claim
        left behind holds the requeued event back for the whole visibility timeout."""
        deadline = time.monotonic() + CLAIM_RELEASE_SECONDS
        while True:
            try:
                self.runtime.redis.delete(claim_key)
                return
            except BROKER_ERRORS:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)

    def _do_afterwards(self, afterwards: list[Work]) -> None:
        """The work the handler left for after the publish (services/common/after_publish.py):
        a failure is logged, the event still done; Redis away redelivers the event."""
        for work in afterwards:
            try:
                work()
            except BROKER_ERRORS:
                raise
            except Exception as exc:  # noqa: BLE001 - the outputs are out: nothing to undo
                get_logger().error(
                    "work after publishing failed",
                    error=repr(exc),
                    traceback=traceback.format_exc(),
                )

    def _handle(self, event: Envelope, afterwards: list[Work]) -> Sequence[Envelope]:
        with deferring() as pending:
            outputs = self.handler(event)
        afterwards.extend(pending)  # only a handler that returned leaves work for later
        return outputs

    def _call(
        self,
        event: Envelope,
        service: str | None,
        attempt: int,
        failing_since: float | None,
        afterwards: list[Work],
    ) -> Sequence[Envelope]:
        log = get_logger()
        try:
            return self._handle(event, afterwards)
        except BROKER_ERRORS:
            raise  # Redis itself is away: the worker requeues the event, no attempt is spent
        except TransientError as exc:
            now = time.time()
            since = now if failing_since is None else failing_since
            settings = self.runtime.settings
            delay = next_delay(settings.retry, attempt, now - since, settings.max_retries)
            if delay is not None:
                log.warning(
                    "transient failure, retrying",
                    error=str(exc),
                    retry_in=round(delay, 1),
                    failing_for=round(now - since, 1),
                )
                raise RetryLater(delay, since) from None
            gave_up = f"gave up after {attempt} attempts over {describe_duration(now - since)}"
            return self._failed(event, service, exc, attempt, retryable=True, gave_up=gave_up)
        except PermanentError as exc:
            return self._failed(event, service, exc, attempt, retryable=False)
        except Exception as exc:  # noqa: BLE001 - an unexpected bug must still end the service
            log.error("unexpected error", error=repr(exc), traceback=traceback.format_exc())
            return self._failed(event, service, exc, attempt, retryable=False)

    def _failed(
        self,
        event: Envelope,
        service: str | None,
        exc: Exception,
        attempt: int,
        retryable: bool,
        gave_up: str = "",
    ) -> Sequence[Envelope]:
        cause: Cause = "retries-exhausted" if retryable else "permanent"
        letter = self._dead_letter(event, cause, type(exc).__name__, str(exc), attempt)
        message = str(exc)[:1600]
        if gave_up:  # an outage outlasted the retry budget: say how to resume once it is over
            message += f" ({gave_up}; once it is back: `{republish_command(letter)}`)"
        get_logger().error(
            "stage failed",
            error_class=type(exc).__name__,
            error=str(exc),
            dead_letter=letter,
        )
        if not self.definition.reports_failures:
            return ()
        return (
            StageFailed(
                event_id=event.follow_up_id("StageFailed", self.definition.name),
                run_id=event.run_id,
                stage=self.definition.name,
                service=service,
                error_class=type(exc).__name__,
                message=message,
                attempt=attempt,
                retryable=retryable,
            ),
        )

    def _dead_letter(
        self, event: Envelope, cause: Cause, error_class: str, message: str, attempt: int
    ) -> str:
        letter = self.runtime.dead_letters.add(
            stage=self.definition.name,
            cause=cause,
            error_class=error_class,
            message=message,
            attempts=attempt,
            payload=encode_event(event),
            event_type=event.type,
            event_id=str(event.event_id),
            run_id=event.run_id,
            service=getattr(event, "service", None),
        )
        return letter.id

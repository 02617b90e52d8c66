"""Which services the reconciler builds again: pure, from what Redis shows of each one.

A service qualifies when the last build the detector (or the reconciler) sent it to failed
on an outage (a stage gave up after its retries: services/detector/attempts.py). Nobody
can tell that the outage is over without trying, so the answer is a backoff: the first
retry `first` seconds after the failure is seen, each further one twice as long after the
last failed, at most `most`. A push that sends the service again, a build that succeeds,
and a failure for good (a bad Dockerfile, a scan block: only a new commit changes that)
forget it. Git has the last word (services/reconciler/behind.py): only a service still
behind its content at the branch head, not pinned and not deployed from a newer commit, is
built; one git settles is left alone until a push sends it again.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.detector.attempts import Attempt
from services.reconciler.converge_state import RetryState


def backoff(retries: int, first: float, most: float) -> float:
    """Seconds from a failure to the next retry, after `retries` retries since it began."""
    return float(min(first * 2 ** min(retries, 32), most))


@dataclass(frozen=True)
class Step:
    state: RetryState | None  # what to keep for the service (None: nothing)
    due: bool = False  # build it again now, should git agree


def step(
    attempt: Attempt,
    sent_run: str,
    state: RetryState | None,
    now: float,
    first: float,
    most: float,
) -> Step:
    """What becomes of a service whose last build was sent in `sent_run` and stands at
    `attempt`, given what the reconciler kept of it (`state`)."""
    ours = state is not None and state.run_id == sent_run
    if ours and state is not None and state.settled and attempt in ("failed transiently", "none"):
        return Step(state)  # git said no (pinned, not behind): only a push changes that
    if attempt == "failed transiently":
        if state is None or not ours:  # first seen: a push's build (or another retry) failed
            return Step(RetryState(run_id=sent_run, retry_at=now + backoff(0, first, most)))
        if state.retry_at is None:  # the retry it started failed in turn
            again = now + backoff(state.retries, first, most)
            return Step(state.model_copy(update={"retry_at": again}))
        return Step(state, due=now >= state.retry_at)
    if ours and state is not None and attempt == "none":
        # its retry never reached the detector's plan (the run failed before): try again later
        if state.retry_at is None:
            since = state.started_at if state.started_at is not None else now
            again = since + backoff(state.retries, first, most)
            return Step(state.model_copy(update={"retry_at": again}))
        return Step(state, due=now >= state.retry_at)
    if ours and attempt == "under way":
        return Step(state)
    return Step(None)  # succeeded, failed for good, or a push sent it again: forget


def started(state: RetryState | None, run_id: str, now: float) -> RetryState:
    """What is kept of a service once a retry is started for it in `run_id`."""
    retries = 0 if state is None else state.retries
    return RetryState(run_id=run_id, retries=retries + 1, retry_at=None, started_at=now)


def settled(state: RetryState, why: str) -> RetryState:
    """What is kept of a service git says not to build (`why`): no retry time."""
    return state.model_copy(update={"retry_at": None, "settled": why})

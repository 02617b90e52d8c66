"""How long a stage keeps retrying a transient failure (a registry or a git host away, SMTP
down): exponential delays with jitter, for a budget of time counted from the event's first
failure, so an outage of a few minutes is ridden out and a longer one ends in a dead letter
that `shipline publish --from-dead-letter ID` republishes once the outage is over.
"""

from __future__ import annotations

import random

from pydantic import BaseModel, ConfigDict, Field, model_validator

MAX_DOUBLINGS = 32  # beyond this the delay is max_delay_seconds anyway


class RetrySettings(BaseModel):
    """`retry:` in the server settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # From the event's first failure; the last retry is placed at the budget's end.
    budget_seconds: float = Field(default=300.0, gt=0)
    initial_delay_seconds: float = Field(default=1.0, gt=0)
    max_delay_seconds: float = Field(default=60.0, gt=0)

    @model_validator(mode="after")
    def _delays_in_order(self) -> RetrySettings:
        if self.initial_delay_seconds > self.max_delay_seconds:
            raise ValueError("initial_delay_seconds must not exceed max_delay_seconds")
        return self


def check_retry_delays(retry: RetrySettings, visibility_timeout: int) -> None:
    """A retry waits in a worker, unacknowledged, for its delay; after visibility_timeout
    Redis would hand a second copy to another worker (services/common/worker.py)."""
    if retry.max_delay_seconds > visibility_timeout / 2:
        raise ValueError(
            "retry.max_delay_seconds must be at most half of visibility_timeout "
            f"({visibility_timeout / 2:g})"
        )


def next_delay(
    retry: RetrySettings, attempt: int, failing_for: float, max_retries: int | None = None
) -> float | None:
    """Seconds to wait before trying again after attempt number `attempt` failed, the event
    having first failed `failing_for` seconds ago; None when the budget is spent (or, with
    `max_retries`, that many retries were made).

    The delay doubles from initial_delay_seconds up to max_delay_seconds, each drawn between
    half and all of that (jitter: workers that failed together do not retry together).
    """
    if max_retries is not None and attempt > max_retries:
        return None
    remaining = retry.budget_seconds - failing_for
    if remaining <= 0:
        return None
    doublings = min(max(attempt - 1, 0), MAX_DOUBLINGS)
    ceiling = min(retry.max_delay_seconds, retry.initial_delay_seconds * 2**doublings)
    delay = random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not a secret
    return min(delay, remaining)


def describe_duration(seconds: float) -> str:
    """E.g. `4m 58s`, `9s`."""
    whole = max(0, round(seconds))
    minutes, rest = divmod(whole, 60)
    return f"{minutes}m {rest}s" if minutes else f"{rest}s"

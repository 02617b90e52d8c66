"""How long each stage's task may hold its message, and the timeouts that follow from it.

A task holds its Redis message unacknowledged until it ends. Redis hands a message
unacknowledged for `visibility_timeout` to another worker, so that timeout must outlast
the longest task, with a margin (a task that runs past it is done twice, the second copy
racing the first). A stopping worker finishes its tasks first (Celery's warm shutdown), so
its grace period (Kubernetes' terminationGracePeriodSeconds) must outlast its stage's
longest task too, plus the shutdown itself. docs/settings.md "Timeouts" is the table.

Nothing here imports the settings: settings.py calls `check_visibility_timeout` from its
validator, and the deploy tests call `grace_seconds` on the rendered config.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services.common.settings import Settings

# The committer lands a change in up to PUSH_ATTEMPTS rounds (a push rejected because the
# branch moved is prepared again on the new head), sleeping up to PUSH_BACKOFF_CAP_SECONDS
# between rounds. A round (sync the gitops checkout, commit, push) has no timeout of its
# own: PUSH_ROUND_SECONDS is the allowance counted for it.
PUSH_ATTEMPTS = 6
PUSH_BACKOFF_CAP_SECONDS = 5.0
PUSH_ROUND_SECONDS = 15.0
# visibility_timeout must exceed the longest task by this share of it, and by at least
# MARGIN_MIN_SECONDS: a message is reserved a moment before its task starts and
# acknowledged a moment after it ends, and the workers' clocks differ a little.
MARGIN_SHARE = 0.2
MARGIN_MIN_SECONDS = 10
# A worker's warm shutdown after its last task (acknowledging it, closing the pool).
SHUTDOWN_SECONDS = 30
# The gateway, stopping: Kubernetes' preStop sleep (endpoints updated), the drain of requests
# in flight (`shipline api --drain-seconds`), then uvicorn's own graceful shutdown.
GATEWAY_PRESTOP_SECONDS = 5
GATEWAY_DRAIN_SECONDS = 20
GATEWAY_FINAL_SECONDS = 5


@dataclass(frozen=True)
class TaskBound:
    """The longest a stage's task holds its message, and the settings it comes from."""

    stage: str
    seconds: float
    source: str  # the keys and numbers, as an error or a table names them


def committer_task_seconds(lock_wait_seconds: float) -> float:
    """The branch lock's wait, then every push round and the backoff between them."""
    return lock_wait_seconds + PUSH_ATTEMPTS * (PUSH_ROUND_SECONDS + PUSH_BACKOFF_CAP_SECONDS)


def task_bounds(settings: Settings) -> list[TaskBound]:
    """Every stage whose task has a configured bound, longest first. The detector's (a
    fetch and a diff) has none to configure."""
    lock_wait = settings.committer.lock_wait_seconds
    pushes = committer_task_seconds(0)
    bounds = [
        _setting("builder", "builder.timeout_seconds", settings.builder.timeout_seconds),
        _setting("scanner", "scanner.timeout_seconds", settings.scanner.timeout_seconds),
        TaskBound(
            "committer",
            committer_task_seconds(lock_wait),
            f"committer.lock_wait_seconds ({lock_wait}) + {PUSH_ATTEMPTS} push rounds ({pushes:g})",
        ),
    ]
    if settings.clusters:
        longest = max(settings.clusters, key=lambda cluster: cluster.deadline_seconds)
        index = settings.clusters.index(longest)
        key = f"clusters.{index}.deadline_seconds"
        bounds.append(_setting("verifier", key, longest.deadline_seconds))
    # One notification goes to every channel in turn.
    sends = [getattr(channel, "timeout_seconds", 0.0) for channel in settings.notifications]
    if any(sends):
        bounds.append(_setting("notifier", "notifications[].timeout_seconds, summed", sum(sends)))
    return sorted(bounds, key=lambda bound: bound.seconds, reverse=True)


def visibility_needed(task_seconds: float) -> int:
    """The shortest visibility timeout a task of `task_seconds` fits in, with the margin."""
    margin = max(MARGIN_MIN_SECONDS, task_seconds * MARGIN_SHARE)
    return math.ceil(task_seconds + margin)


def check_visibility_timeout(settings: Settings) -> None:
    """Refuse a visibility timeout some task outlasts, naming the keys and the numbers."""
    short = [
        bound
        for bound in task_bounds(settings)
        if settings.visibility_timeout < visibility_needed(bound.seconds)
    ]
    if not short:
        return
    if settings.allow_short_visibility_timeout:
        if settings.env != "prod":
            return
        raise ValueError(
            "allow_short_visibility_timeout is refused with env: prod: a task that outlasts "
            "visibility_timeout is handed to a second worker while the first still runs it"
        )
    needed = visibility_needed(short[0].seconds)
    tasks = "; ".join(f"{b.source} needs {visibility_needed(b.seconds)}" for b in short)
    raise ValueError(
        f"visibility_timeout ({settings.visibility_timeout}) is shorter than the longest task "
        f"and its margin ({MARGIN_SHARE:.0%}, at least {MARGIN_MIN_SECONDS}s): {tasks}. "
        f"Raise visibility_timeout to at least {needed}, or shorten those timeouts; "
        "otherwise Redis hands a running task to a second worker"
    )


def grace_seconds(settings: Settings, stage: str) -> int:
    """The shortest grace period that lets a stopping worker of `stage` finish its longest
    task and shut down."""
    if stage == "gateway":
        return GATEWAY_PRESTOP_SECONDS + GATEWAY_DRAIN_SECONDS + GATEWAY_FINAL_SECONDS
    task = next((bound.seconds for bound in task_bounds(settings) if bound.stage == stage), 0)
    return math.ceil(task) + SHUTDOWN_SECONDS


def _setting(stage: str, key: str, seconds: float) -> TaskBound:
    return TaskBound(stage, seconds, f"{key} ({seconds:g})")

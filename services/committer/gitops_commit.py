"""A locked commit on the gitops head: the core every write-back flow (deploy, release,
rollback) shares.

One writer at a time per gitops repository and branch, across every committer process (the
lease in lock.py). Each attempt starts from the remote head: the checkout is synced, the
flow prepares its change on it (so each decision, superseded, held or already there, is
taken on what is really deployed), and the change is committed as the bot and pushed. A
push rejected because the branch moved anyway (the lease lapsed, or a person pushed) is
prepared again on the new head and retried with backoff.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from services.committer.lock import GitopsLock
from services.committer.targets import Target
from services.common.errors import TransientError
from services.common.git_checkout import Checkout, PushRejected
from services.common.logging import get_logger
from services.common.settings import BotIdentity
from services.common.stage import backoff
from services.common.timeouts import PUSH_ATTEMPTS, PUSH_BACKOFF_CAP_SECONDS

R = TypeVar("R")


@dataclass(frozen=True)
class Change(Generic[R]):
    """Files a flow wrote in the checkout, to be committed with `message`; `done` makes the
    flow's result from the new commit's sha."""

    paths: list[str]
    message: str
    done: Callable[[str], R]


@dataclass(frozen=True)
class Finished(Generic[R]):
    """Nothing to commit (skipped, already there, a redelivery): the flow's result as it is."""

    result: R


Prepare = Callable[[], Change[R] | Finished[R]]


class GitopsCommits:
    """Lands a flow's change on the head of a target's gitops branch, under its lock."""

    def __init__(self, lock: GitopsLock, bot: BotIdentity) -> None:
        self.lock = lock
        self.bot = bot

    def commit(self, target: Target, prepare: Prepare[R]) -> R:
        checkout = target.checkout
        with self.lock.held(target.gitops.name, checkout.branch):
            return self._land(checkout, prepare)

    def _land(self, checkout: Checkout, prepare: Prepare[R]) -> R:
        for attempt in range(1, PUSH_ATTEMPTS + 1):
            checkout.sync()
            step = prepare()
            if isinstance(step, Finished):
                return step.result
            try:
                sha = checkout.commit_and_push(
                    step.paths, step.message, self.bot.name, self.bot.email
                )
            except PushRejected:
                get_logger().info("push rejected, re-applying on the new head", attempt=attempt)
                time.sleep(backoff(attempt, base=0.2, cap=PUSH_BACKOFF_CAP_SECONDS))
                continue
            get_logger().info("committed", commit=sha, paths=step.paths)
            return step.done(sha)
        raise TransientError(f"push to {checkout.branch} rejected {PUSH_ATTEMPTS} times")

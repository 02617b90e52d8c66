"""Starting a build run of the reconciler's own: a forced build (BuildRequested, ref = the
default branch, requested by "reconciler") of some services at the branch head, in a run
recorded under `trigger`. The services are recorded as sent to build in that run before it
is published, so a leader lost in between never starts it twice, and the next push (and the
next pass) judges them as builds under way."""

from __future__ import annotations

import secrets
import time

from services.common.bus import Bus
from services.common.events import BuildRequested
from services.common.logging import get_logger
from services.common.runs import RunStore
from services.common.settings import Repository
from services.detector.attempts import SentBuilds

REQUESTED_BY = "reconciler"


def new_run_id() -> str:
    return f"{time.strftime('%Y%m%d%H%M%S', time.gmtime())}-{secrets.token_hex(4)}"


def default_ref(repo: Repository) -> str:
    return f"refs/heads/{repo.default_branch}"


class BuildStarter:
    def __init__(self, bus: Bus, runs: RunStore, sent: SentBuilds) -> None:
        self._bus, self._runs, self._sent = bus, runs, sent

    def start(
        self, repo: Repository, services: tuple[str, ...], run_id: str, trigger: str, why: str
    ) -> None:
        """Build `services` of `repo` at its default branch's head in run `run_id`; logs
        `why` (what the reconciler answers) with the run."""
        ref = default_ref(repo)
        self._sent.record(repo.name, ref, list(services), run_id)
        self._runs.create(
            run_id,
            trigger=trigger,
            provider="manual",
            repository=repo.name,
            ref=ref,
            pusher=REQUESTED_BY,
            services=",".join(services),
        )
        event = BuildRequested(
            run_id=run_id,
            repository=repo.name,
            ref=ref,
            services=services,
            requested_by=REQUESTED_BY,
        )
        self._bus.publish(event)
        get_logger(run_id=run_id).warning(why, repository=repo.name, services=",".join(services))

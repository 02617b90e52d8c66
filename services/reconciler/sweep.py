"""The sweep: convergence from git, with no push and whatever Redis has lost.

The re-drives and the retries work from what Redis remembers (the event log, the builds
sent, the run store). After Redis loses its data a deploy in flight leaves nothing there
to work from: its queued message went with the rest. The sweep asks git instead, per
repository, every `reconciler.sweep_seconds` (and at once when its own record is gone,
which is what a data loss looks like): the services behind the default branch's head (git's
word, services/reconciler/behind.py: not pinned, not deployed from a newer commit, content
differing) that nothing in Redis accounts for are built at the head, in one run of trigger
`converge`, once two sweeps have seen them so (services/reconciler/sweep_decision.py).

Only services Shipline has deployed before are swept: a service never deployed gets its
first deploy from a push. A build it starts is recorded as sent, so the retries (and the
next push) own it from then on; the builder's lease and registry check and the committer's
ancestry check keep an image or a deploy commit from being made twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import redis
from pydantic import ValidationError

from services.common.keyspace import Keyspace
from services.common.redis_types import bytes_client
from services.common.settings import Repository, Settings
from services.detector.against_deployed import Pins
from services.detector.deployed import DeployedCache
from services.reconciler.behind import still_behind
from services.reconciler.converge_state import ConvergeState
from services.reconciler.start import BuildStarter, default_ref, new_run_id
from services.reconciler.sweep_decision import SweepState, sweep_due, sweep_later, sweep_step

TRIGGER = "converge"
MIN_GRACE_SECONDS = 5.0  # between the two sightings: a push's detector answers well within


@dataclass(frozen=True)
class Converged:
    repository: str
    services: tuple[str, ...]
    run_id: str
    commit: str


@dataclass
class SweepReport:
    swept: list[str] = field(default_factory=list)  # repositories whose git was read
    pending: dict[str, tuple[str, ...]] = field(default_factory=dict)  # seen once: next sweep
    started: list[Converged] = field(default_factory=list)


class SweepStates:
    """`keys.reconciler_sweep(repository)`: each repository's last sweep (JSON)."""

    def __init__(self, client: redis.Redis, keys: Keyspace) -> None:
        self._redis, self._keys = bytes_client(client), keys

    def get(self, repository: str) -> SweepState | None:
        raw = self._redis.get(self._keys.reconciler_sweep(repository))
        if raw is None:
            return None
        try:
            return SweepState.model_validate_json(raw)
        except ValidationError:
            return None  # unreadable: swept at once, written afresh

    def put(self, repository: str, state: SweepState) -> None:
        self._redis.set(self._keys.reconciler_sweep(repository), state.model_dump_json())


class Sweeper:
    def __init__(
        self,
        settings: Settings,
        client: redis.Redis,
        keys: Keyspace,
        starter: BuildStarter,
        pins: Pins,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings, self._starter, self._pins, self._clock = settings, starter, pins, clock
        self._redis, self._keys = bytes_client(client), keys
        self._states = SweepStates(client, keys)
        self._retries = ConvergeState(client, keys=keys)
        self._deployed = DeployedCache(client, keys=keys)

    def pass_once(self, leading: Callable[[], bool] = lambda: True) -> SweepReport:
        report = SweepReport()
        options = self._settings.reconciler
        if options.sweep_seconds <= 0:
            return report
        grace = max(options.period_seconds, MIN_GRACE_SECONDS)
        for repo in self._settings.repositories:
            if not leading():
                break
            state, now = self._states.get(repo.name), self._clock()
            if sweep_due(state, now):
                report.swept.append(repo.name)
                self._sweep(repo, state, now, grace, report, leading)
        return report

    def _sweep(
        self,
        repo: Repository,
        state: SweepState | None,
        now: float,
        grace: float,
        report: SweepReport,
        leading: Callable[[], bool],
    ) -> None:
        behind = still_behind(
            self._settings, repo, None, self._deployed, self._pins, deployed_only=True
        )
        if behind.head is None or behind.waiting:  # the branch gone, or its pins unknown
            self._states.put(repo.name, sweep_later(state, now, grace))
            return
        unaccounted = self._unaccounted(repo, behind.services)
        every = self._settings.reconciler.sweep_seconds
        step = sweep_step(state, behind.head, unaccounted, now, every, grace)
        if step.state.pending:
            report.pending[repo.name] = step.state.pending
        if step.build and leading():
            run_id = new_run_id()
            why = "reconciler builds services behind their branch that nothing is building"
            self._starter.start(repo, step.build, run_id, TRIGGER, why)
            report.started.append(Converged(repo.name, step.build, run_id, behind.head))
        self._states.put(repo.name, step.state)

    def _unaccounted(self, repo: Repository, services: list[str]) -> list[str]:
        """Of `services`, those Redis has no build sent and no retry of: however that build
        went (under way, failed, superseded), the re-drives, the retries and pushes own it."""
        if not services:
            return []
        sent = self._redis.hmget(self._keys.sent_builds(repo.name, default_ref(repo)), services)
        retries = self._retries.many(repo.name, services)
        return [
            s for s, run in zip(services, sent, strict=True) if run is None and retries[s] is None
        ]

"""One retry pass: the services of each default branch whose last build failed on an outage
are built again at the branch head once their backoff has passed.

Cheap first: the detector's record of the run each service was last sent to build in and
the run store's status of it (two HGETALLs and a pipeline per repository); git only for a
repository with a retry due (services/reconciler/behind.py). A retry is a forced build
(BuildRequested, ref = the default branch, requested by "reconciler") in a run of its own,
trigger "retry": the detector builds it at the head, tagged like a push of it, and the
committer still holds a pinned service and never deploys backwards. At most
`retries_per_pass` services a pass, one run per repository: never a storm.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import redis

from services.common.bus import Bus
from services.common.keyspace import Keyspace
from services.common.logging import get_logger
from services.common.redis_types import bytes_client
from services.common.runs import RunStore
from services.common.settings import Repository, Settings
from services.detector.against_deployed import Pins
from services.detector.attempts import Attempt, SentBuilds, attempt_of
from services.detector.deployed import DeployedCache
from services.reconciler.behind import still_behind
from services.reconciler.converge_state import ConvergeState, RetryState
from services.reconciler.retry_decision import settled, started, step
from services.reconciler.start import BuildStarter, default_ref, new_run_id

TRIGGER = "retry"


@dataclass(frozen=True)
class Retry:
    repository: str
    services: tuple[str, ...]
    run_id: str
    commit: str


@dataclass
class RetryReport:
    due: int = 0  # services whose backoff had passed
    started: list[Retry] = field(default_factory=list)
    settled: dict[str, str] = field(default_factory=dict)  # "repo service" → why not built


class Retrier:
    def __init__(
        self,
        settings: Settings,
        client: redis.Redis,
        keys: Keyspace,
        bus: Bus,
        runs: RunStore,
        pins: Pins,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings, self._redis, self._keys = settings, bytes_client(client), keys
        self._pins, self._clock = pins, clock
        self._sent = SentBuilds(client, keys=keys)
        self._starter = BuildStarter(bus, runs, self._sent)
        self._states = ConvergeState(client, keys=keys)
        self._deployed = DeployedCache(client, keys=keys)

    def pass_once(self, leading: Callable[[], bool] = lambda: True) -> RetryReport:
        report = RetryReport()
        options = self._settings.reconciler
        if not options.retry_failed:
            return report
        budget = options.retries_per_pass
        for repo in self._settings.repositories:
            if budget <= 0 or not leading():
                break
            due = self._due(repo)
            report.due += len(due)
            if due:
                budget -= self._retry(repo, due[:budget], report)
        return report

    def _due(self, repo: Repository) -> list[str]:
        """The services whose retry is due, the longest waiting first; the retry state of
        every service on record brought up to date on the way."""
        ref = default_ref(repo)
        sent = self._redis.hgetall(self._keys.sent_builds(repo.name, ref))
        if not sent:
            return []
        runs = {key.decode(): value.decode() for key, value in sent.items()}
        attempts = self._sent.attempts(repo.name, ref, sorted(runs))
        options, now = self._settings.reconciler, self._clock()
        first, most = options.retry_first_seconds, options.retry_max_seconds
        due: list[tuple[float, str]] = []
        states = self._states.many(repo.name, sorted(runs))
        attempts.update(self._runs_failed(runs, attempts, states))
        for service, state in states.items():
            next_step = step(attempts[service], runs[service], state, now, first, most)
            if next_step.state != state:
                self._states.put(repo.name, service, next_step.state)
            if next_step.due and next_step.state is not None:
                due.append((next_step.state.retry_at or now, service))
        return [service for _, service in sorted(due)]

    def _runs_failed(
        self,
        runs: dict[str, str],
        attempts: dict[str, Attempt],
        states: dict[str, RetryState | None],
    ) -> dict[str, Attempt]:
        """For a retry of its own that never planned a build (the run failed before its
        detector did, say on an invalid shipline.yaml at the head): how the run failed."""
        mine = {
            service: runs[service]
            for service, state in states.items()
            if state is not None and state.run_id == runs[service] and attempts[service] == "none"
        }
        if not mine:
            return {}
        pipe = self._redis.pipeline(transaction=False)
        for run_id in mine.values():
            pipe.hget(self._keys.run(run_id), "status")
            pipe.hget(self._keys.run(run_id), "failure")
        replies = pipe.execute()
        found: dict[str, Attempt] = {}
        for index, service in enumerate(mine):
            status, failure = replies[2 * index], replies[2 * index + 1]
            if status == b"failed":
                found[service] = attempt_of("failed", failure.decode() if failure else "")
        return found

    def _retry(self, repo: Repository, due: Sequence[str], report: RetryReport) -> int:
        """Start one run building those of `due` git says are still behind; how many."""
        behind = still_behind(self._settings, repo, due, self._deployed, self._pins)
        for service, why in behind.settled.items():
            state = self._states.get(repo.name, service)
            if state is not None:
                self._states.put(repo.name, service, settled(state, why))
            report.settled[f"{repo.name} {service}"] = why
        for service, why in behind.waiting.items():  # still due: asked again next pass
            get_logger().warning("retry waits", repository=repo.name, service=service, reason=why)
        if not behind.services or behind.head is None:
            return 0
        services, now, run_id = tuple(behind.services), self._clock(), new_run_id()
        # recorded before the run starts: a leader lost right after never starts it twice
        for service in services:
            state = self._states.get(repo.name, service)
            self._states.put(repo.name, service, started(state, run_id, now))
        why = "reconciler retries builds failed on an outage"
        self._starter.start(repo, services, run_id, TRIGGER, why)
        report.started.append(Retry(repo.name, services, run_id, behind.head))
        return len(services)

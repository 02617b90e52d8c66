"""Starting the reconciler beside a worker: a daemon thread with clients of its own."""

from __future__ import annotations

import threading
from collections.abc import Callable

import redis
from celery import Celery

from services.common.auto_promotion_runs import AutoPromotionRuns
from services.common.bus import Bus, create_celery
from services.common.errors import ShiplineError
from services.common.eventlog import EventLog
from services.common.logging import get_logger
from services.common.pins import PinStore
from services.common.promotion_pulls import PromotionPulls
from services.common.redis_connect import connect
from services.common.redis_types import bytes_client
from services.common.run_index import RunIndex
from services.common.run_retention import RunRetention
from services.common.runs import RunStore
from services.common.runtime import Runtime
from services.detector.attempts import SentBuilds
from services.reconciler.auto_promotion_sweep import AutoPromotionSweep
from services.reconciler.due import DuePromotions
from services.reconciler.leader import Leadership, ReconcilerLoop
from services.reconciler.observe import Observer, reconciler_client
from services.reconciler.promotion_pull_recovery import PromotionPullRecovery
from services.reconciler.promotion_pulls import PromotionPullCheck
from services.reconciler.reconcile import PassReport, Reconciler
from services.reconciler.redrive import Redriver
from services.reconciler.retry import Retrier
from services.reconciler.run_upkeep import RunUpkeep
from services.reconciler.start import BuildStarter
from services.reconciler.sweep import Sweeper


class NewRun:
    """True once per change of the newest run in the index: a push came in."""

    def __init__(self, observer: Observer) -> None:
        self._observer = observer
        self._newest: bytes | None = None

    def __call__(self) -> bool:
        newest = self._observer.newest_run()
        changed = self._newest is not None and newest != self._newest
        self._newest = newest
        return changed


def build_reconciler(runtime: Runtime, client: redis.Redis, celery: Celery) -> Reconciler:
    """The reconciler of `runtime`'s settings and keyspace, on `client` and `celery`."""
    settings, reads = runtime.settings, reconciler_client(client)
    return Reconciler(
        Observer(reads, runtime.keyspace),
        client,
        Redriver(celery, reads, runtime.keyspace, settings.visibility_timeout),
        settings.reconciler,
        settings.visibility_timeout,
    )


def build_retrier(runtime: Runtime, client: redis.Redis, celery: Celery) -> Retrier:
    """The retries of builds failed on an outage, on `client` and `celery`."""
    keys = runtime.keyspace
    runs = RunStore(client, keys=keys)
    bus = Bus(celery, runs, EventLog(client, keys=keys))
    return Retrier(runtime.settings, client, keys, bus, runs, PinStore(client, keys=keys))


def build_sweeper(runtime: Runtime, client: redis.Redis, celery: Celery) -> Sweeper:
    """The sweep from git of services behind that Redis has no build of."""
    keys = runtime.keyspace
    runs = RunStore(client, keys=keys)
    starter = BuildStarter(
        Bus(celery, runs, EventLog(client, keys=keys)), runs, SentBuilds(client, keys=keys)
    )
    return Sweeper(runtime.settings, client, keys, starter, PinStore(client, keys=keys))


def build_due_promotions(runtime: Runtime, client: redis.Redis, celery: Celery) -> DuePromotions:
    """The auto-promotions whose soak is over, started as runs of their own."""
    keys = runtime.keyspace
    runs = RunStore(client, keys=keys)
    bus = Bus(celery, runs, EventLog(client, keys=keys))
    return DuePromotions(AutoPromotionRuns(client, keys, runs, bus))


def build_auto_promotion_sweep(
    runtime: Runtime, client: redis.Redis, celery: Celery
) -> AutoPromotionSweep:
    """The auto-promotions git says are owed that Redis lost (soaking, or never asked)."""
    keys = runtime.keyspace
    runs = RunStore(client, keys=keys)
    starts = AutoPromotionRuns(client, keys, runs, Bus(celery, runs, EventLog(client, keys=keys)))
    return AutoPromotionSweep(runtime.settings, client, keys, starts, runs)


def build_pull_check(runtime: Runtime, client: redis.Redis, celery: Celery) -> PromotionPullCheck:
    """Promotions' open pull requests re-read from their host, their webhook or not."""
    keys = runtime.keyspace
    runs = RunStore(client, keys=keys)
    bus = Bus(celery, runs, EventLog(client, keys=keys))
    return PromotionPullCheck(runtime.settings, PromotionPulls(client, keys=keys), bus)


def build_pull_recovery(runtime: Runtime, client: redis.Redis) -> PromotionPullRecovery:
    """Promotion pull requests whose records Redis lost, found again on their host."""
    keys = runtime.keyspace
    store = PromotionPulls(client, keys=keys)
    return PromotionPullRecovery(runtime.settings, store, client, keys, RunStore(client, keys=keys))


def build_run_upkeep(runtime: Runtime, client: redis.Redis) -> RunUpkeep:
    """The run indexes' one-off rebuild and the retention of old runs."""
    keys = runtime.keyspace
    index = RunIndex(bytes_client(client), keys)
    return RunUpkeep(runtime.settings.runs, index, RunRetention(client, keys))


Step = (
    Retrier
    | Sweeper
    | AutoPromotionSweep
    | DuePromotions
    | PromotionPullRecovery
    | PromotionPullCheck
    | RunUpkeep
)


class Passes:
    """A reconciler pass: lost messages re-driven, then failed builds retried when due, then
    the sweep from git when due, then the auto-promotions git says are owed when due, then
    the auto-promotions whose soak is over, then the promotion pull requests whose records
    were lost found again on their host when due, then the open
    promotion pull requests read from their host when due, then the run store's upkeep
    (index rebuild, retention) (a failure of one of the last five, git unreachable say, is
    logged and never stops the others)."""

    def __init__(
        self,
        reconciler: Reconciler,
        retrier: Retrier,
        sweeper: Sweeper,
        promotions: DuePromotions | None = None,
        pulls: PromotionPullCheck | None = None,
        upkeep: RunUpkeep | None = None,
        owed: AutoPromotionSweep | None = None,
        lost_pulls: PromotionPullRecovery | None = None,
    ) -> None:
        self._reconciler, self._retrier, self._sweeper = reconciler, retrier, sweeper
        self._promotions, self._pulls, self._upkeep = promotions, pulls, upkeep
        self._owed, self._lost_pulls = owed, lost_pulls

    def __call__(self, leading: Callable[[], bool]) -> PassReport:
        report = self._reconciler.pass_once(leading)
        steps: list[tuple[str, Step]] = [
            ("retries", self._retrier),
            ("sweep", self._sweeper),
        ]
        if self._owed is not None:
            steps.append(("auto-promotions from git", self._owed))
        if self._promotions is not None:
            steps.append(("auto-promotions", self._promotions))
        if self._lost_pulls is not None:
            steps.append(("promotion pull requests lost", self._lost_pulls))
        if self._pulls is not None:
            steps.append(("promotion pull requests", self._pulls))
        if self._upkeep is not None:
            steps.append(("run store upkeep", self._upkeep))
        for name, step in steps:
            if not leading():
                break
            try:
                step.pass_once(leading)
            except (ShiplineError, redis.RedisError) as exc:
                get_logger(component="reconciler").warning(f"{name} not looked at", error=str(exc))
        return report


def start_reconciler(runtime: Runtime) -> ReconcilerLoop | None:
    """Run the reconciler in a daemon thread of this process (None when disabled). Its Redis
    client and Celery producer are its own: a prefork worker's children never share them."""
    settings = runtime.settings
    if not settings.reconciler.enabled:
        return None
    client = connect(runtime.redis_url, socket_connect_timeout=3, socket_timeout=10)
    celery = create_celery(runtime.redis_url, settings.visibility_timeout)
    reconciler = build_reconciler(runtime, client, celery)
    loop = ReconcilerLoop(
        Leadership(client, runtime.keyspace.reconciler_leader),
        Passes(
            reconciler,
            build_retrier(runtime, client, celery),
            build_sweeper(runtime, client, celery),
            build_due_promotions(runtime, client, celery),
            build_pull_check(runtime, client, celery),
            build_run_upkeep(runtime, client),
            build_auto_promotion_sweep(runtime, client, celery),
            build_pull_recovery(runtime, client),
        ),
        settings.reconciler.period_seconds,
        woken=NewRun(Observer(reconciler_client(client), runtime.keyspace)),
    )
    threading.Thread(target=loop.run, name="reconciler", daemon=True).start()
    return loop

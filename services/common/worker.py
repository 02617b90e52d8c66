"""The Celery adapter: one thin task per stage, and starting a worker for one stage."""

from __future__ import annotations

import importlib
import os
import time
import warnings

from celery import Celery, Task
from celery.exceptions import Reject, SecurityWarning
from celery.signals import worker_ready, worker_shutting_down

from services.common.bus import BROKER_ERRORS, queue_name, task_name
from services.common.health import wait_for_redis
from services.common.heartbeat import STARTING, WAITING_FOR_REDIS, Heartbeat
from services.common.logging import get_logger
from services.common.runtime import Runtime
from services.common.settings import Settings
from services.common.stage import RetryLater, StageDefinition, StageRunner
from services.common.worker_heartbeat import install_heartbeat
from services.reconciler.background import start_reconciler

ROOT_WARNING = "You're running the worker with superuser privileges"


def load_definition(stage: str) -> StageDefinition:
    module = importlib.import_module(f"services.{stage}.task")
    definition: StageDefinition = module.STAGE
    return definition


def register_stage(celery: Celery, runtime: Runtime, definition: StageDefinition) -> None:
    runner = StageRunner(definition, runtime)
    if definition.eager:
        runner.handler  # noqa: B018 - built now: it starts what it shares (cluster watches)

    # shared=False: the task is this app's alone, not added to every app made after it
    @celery.task(name=task_name(definition.name), bind=True, max_retries=None, shared=False)
    def handle(task: Task, payload: str, failing_since: float | None = None) -> None:
        try:
            runner.process(payload, task.request.retries + 1, failing_since)
        except RetryLater as later:
            countdown = retry_countdown(later.countdown, runtime.settings.visibility_timeout)
            since = {"failing_since": later.failing_since}
            try:
                raise task.retry(countdown=countdown, kwargs=since) from None
            except BROKER_ERRORS:
                _requeue_when_redis_returns(task)
        except BROKER_ERRORS:
            _requeue_when_redis_returns(task)


# The notifier's tasks wait on channels (HTTP, SMTP): threads spare it the hand-off of each
# task to a child process (the `bus` benchmark: its worker drains 1.1-1.4x faster).
DEFAULT_POOL = {"notifier": "threads"}


def stage_pool(settings: Settings, definition: StageDefinition) -> str:
    """The Celery pool of a stage's worker: the `pool:` setting's, else DEFAULT_POOL's, else
    the stage's own (the verifier's threads)."""
    chosen = (pool for stage, pool in settings.pool.items() if stage == definition.name)
    return next(chosen, DEFAULT_POOL.get(definition.name, definition.pool))


def retry_countdown(wanted: float, visibility_timeout: int) -> float:
    """How long a retry waits: at most half the visibility timeout.

    A retry with a countdown waits in the worker, unacknowledged, until its time. Redis
    hands any message unacknowledged for visibility_timeout to a worker again, so a longer
    wait would make a second copy, each copy its own retry, and so on: a storm of copies that
    starves the queue.
    """
    return min(wanted, visibility_timeout / 2)


def _requeue_when_redis_returns(task: Task) -> None:
    """Redis failed mid-task: never ack (that would lose the event); queue it again instead.

    The worker queues its own copy of the message (same task id, arguments and attempt),
    and the original is then acknowledged: kombu's requeue would restore the copy it keeps
    in Redis, which is gone when Redis came back without its data (a restart without
    persistence), and the event with it. If Redis is still down the message is rejected for
    requeue, and stays unacknowledged in Redis until the visibility timeout hands it to a
    worker again.
    """
    time.sleep(2)
    try:
        task.signature_from_request(task.request, retries=task.request.retries).apply_async()
    except BROKER_ERRORS:
        raise Reject(requeue=True) from None


def start_threads(runtime: Runtime, definition: StageDefinition) -> None:
    """The worker's own threads: the reconciler and the stage's background work, if any."""
    if (reconciler := start_reconciler(runtime)) is not None:
        worker_shutting_down.connect(lambda **_: reconciler.stop(), weak=False)
    if definition.background is not None and (stop := definition.background(runtime)):
        worker_shutting_down.connect(lambda **_: stop(), weak=False)


def run_worker(
    runtime: Runtime, stage: str, concurrency: int | None = None, redis_wait: float = 300.0
) -> None:
    """Serve one stage's queue until SIGTERM.

    Start-up first waits (up to ``redis_wait`` seconds, with backoff) for Redis. SIGTERM
    is Celery's warm shutdown: consuming stops, the tasks in progress run to the end and
    are acknowledged, and reserved but unstarted messages go back to the queue (acks_late).
    A worker killed before its task finishes never acknowledged it, so Redis hands the
    message to another worker after the visibility timeout.

    The worker beats into its heartbeat file (services/common/heartbeat.py) from the start,
    while it waits for Redis, and then from its consumer loop: `shipline probe <stage>`.
    """
    log = get_logger(stage=stage)
    heartbeat = Heartbeat(stage)
    heartbeat.beat(STARTING)

    def waiting(attempt: int, delay: float, reason: str) -> None:
        heartbeat.beat(WAITING_FOR_REDIS)
        log.warning("waiting for Redis", attempt=attempt, retry_in=round(delay, 1), reason=reason)

    attempts = wait_for_redis(runtime.redis_url, deadline=redis_wait, on_retry=waiting)
    if attempts > 1:
        log.info("Redis reachable", attempts=attempts)
    definition = load_definition(stage)
    celery = runtime.celery
    register_stage(celery, runtime, definition)
    install_heartbeat(celery, heartbeat)
    # Every worker runs a reconciler; the one holding its lease acts (services/reconciler/).
    # Threads start once the pool has forked its children (services/common/fork_gate.py).
    worker_ready.connect(lambda **_: start_threads(runtime, definition), weak=False)
    # As root (this development environment), Celery warns at every start that workers run
    # as root; the images in deploy/ run them as uid 10001, where it would not. Its banner
    # repeats, per stage, what `shipline up` already said: both are noise at a normal start.
    warnings.filterwarnings("ignore", ROOT_WARNING, SecurityWarning)
    pool = stage_pool(runtime.settings, definition)
    celery.worker_main(
        [
            "--quiet",
            "worker",
            f"--queues={queue_name(stage)}",
            f"--concurrency={concurrency or runtime.settings.stage_concurrency(stage)}",
            f"--hostname={stage}-{os.getpid()}@%h",
            "--loglevel=WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            *([f"--pool={pool}"] if pool != "prefork" else []),
        ]
    )

"""Starting the reconciler beside a worker: a daemon thread with clients of its own."""

from __future__ import annotations

import threading

import redis
from celery import Celery

from services.common.bus import create_celery
from services.common.redis_connect import connect
from services.common.runtime import Runtime
from services.reconciler.leader import Leadership, ReconcilerLoop
from services.reconciler.observe import Observer, reconciler_client
from services.reconciler.reconcile import Reconciler
from services.reconciler.redrive import Redriver


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
        reconciler.pass_once,
        settings.reconciler.period_seconds,
        woken=NewRun(Observer(reconciler_client(client), runtime.keyspace)),
    )
    threading.Thread(target=loop.run, name="reconciler", daemon=True).start()
    return loop

"""The worker's heartbeat, from inside Celery's consumer (services/common/heartbeat.py reads it).

While the consumer runs, a timer of Celery's event loop writes `consuming` every
BEAT_SECONDS: the loop that fetches messages is the one that beats, so a hung loop (or a
frozen process) stops beating and the probe fails. When the consumer stops, because Redis
went away (Celery reconnects, with backoff) or because the worker shuts down warm
(finishing its tasks), a thread writes `waiting for Redis` or `stopping` until it is
consuming again or gone: a worker waiting for Redis is not restarted.
"""

from __future__ import annotations

import threading
from typing import Any

from celery import Celery, bootsteps

from services.common.heartbeat import (
    BEAT_SECONDS,
    CONSUMING,
    STOPPING,
    WAITING_FOR_REDIS,
    Heartbeat,
)


class _BeatMeanwhile:
    """A thread that writes `state` every BEAT_SECONDS until stopped."""

    def __init__(self, heartbeat: Heartbeat, state: str) -> None:
        self._stopped = threading.Event()
        self._heartbeat, self._state = heartbeat, state
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            self._heartbeat.beat(self._state)
            if self._stopped.wait(BEAT_SECONDS):
                return

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()


def install_heartbeat(celery: Celery, heartbeat: Heartbeat) -> None:
    """Make the consumers of `celery`'s workers beat into `heartbeat`."""

    class HeartbeatStep(bootsteps.StartStopStep):
        requires = ("celery.worker.consumer.tasks:Tasks",)  # beats once it consumes

        def __init__(self, consumer: Any, **kwargs: Any) -> None:
            super().__init__(consumer, **kwargs)
            self._timer: Any = None
            self._meanwhile: _BeatMeanwhile | None = None

        def start(self, consumer: Any) -> None:
            self._end_meanwhile()
            heartbeat.beat(CONSUMING)
            # The event loop's own timer (the hub's): it fires only while that loop turns.
            self._timer = consumer.timer.call_repeatedly(BEAT_SECONDS, heartbeat.beat, (CONSUMING,))

        def stop(self, consumer: Any) -> None:
            self._cancel_timer()
            closing = consumer.blueprint.state != bootsteps.RUN  # else: reconnecting
            self._end_meanwhile()
            self._meanwhile = _BeatMeanwhile(heartbeat, STOPPING if closing else WAITING_FOR_REDIS)

        def shutdown(self, consumer: Any) -> None:
            self._cancel_timer()

        def _cancel_timer(self) -> None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

        def _end_meanwhile(self) -> None:
            if self._meanwhile is not None:
                self._meanwhile.stop()
                self._meanwhile = None

    celery.steps["consumer"].add(HeartbeatStep)

"""One pass: the runs in flight, their newest deliveries, and the lost ones re-driven.

On the happy path a pass only reads: the runs it follows (one round trip), the events of
those older than the visibility timeout (one read each), their claim and done markers (one
round trip). The queues and `unacked` are read only when some delivery is old and neither
claimed nor done; then the markers are read again, after the broker, the order a message
moves in (queued, unacked, claimed, done), so one that moves meanwhile is still seen.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from services.common.settings import ReconcilerSettings
from services.reconciler.broker_state import BrokerReads, read_broker
from services.reconciler.decision import Delivery, Sighting, Verdict, deliveries, is_old, verdict
from services.reconciler.observe import Observer
from services.reconciler.redrive import Redriver


@dataclass
class PassReport:
    runs: int = 0  # in flight, looked at
    deliveries: int = 0  # old enough to be lost
    suspects: int = 0  # of those, neither claimed nor done: the broker was read
    redriven: list[Delivery] = field(default_factory=list)


class Reconciler:
    def __init__(
        self,
        observer: Observer,
        broker: BrokerReads,
        redriver: Redriver,
        settings: ReconcilerSettings,
        visibility_timeout: int,
    ) -> None:
        self._observer, self._broker, self._redriver = observer, broker, redriver
        self._settings, self._visibility = settings, visibility_timeout

    def pass_once(self, leading: Callable[[], bool] = lambda: True) -> PassReport:
        """Look once; re-drive each lost delivery while `leading()` still says so."""
        report = PassReport()
        now = self._observer.now()
        self._observer.follow_new_runs(now)
        runs = self._observer.runs_in_flight(self._settings.runs_per_pass, now)
        report.runs = len(runs)
        old: list[Delivery] = []
        for run in runs:
            if now - run.created_at <= self._visibility:
                continue  # every event of the run is younger than the run
            logged = self._observer.logged_events(run.run_id, self._settings.events_per_run)
            old += [d for d in deliveries(logged) if is_old(d, now, self._visibility)]
        report.deliveries = len(old)
        handled = self._observer.handled(old)
        suspects = [d for d, seen in zip(old, handled, strict=True) if not seen]
        report.suspects = len(suspects)
        if not suspects:
            return report
        broker = read_broker(self._broker, {d.stage for d in suspects})
        for delivery, mark in zip(suspects, self._observer.marks(suspects), strict=True):
            seen = Sighting(
                queued=broker.is_queued(delivery.stage, delivery.task_id),
                unacked=broker.is_unacked(delivery.task_id),
                claimed=mark.claimed,
                done=mark.done,
                redriven=mark.redriven,
            )
            if verdict(delivery, seen, now, self._visibility) is not Verdict.LOST:
                continue
            if not leading():
                break
            if self._redriver.redrive(delivery, now):
                report.redriven.append(delivery)
        return report

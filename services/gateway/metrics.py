"""Prometheus metrics of the whole pipeline, computed from Redis when scraped.

Workers run in other processes, so the API reads what they recorded: finished runs (by
outcome) and their stage timings from the run store, queue depths from the broker. A run is
read once after it finished and then only counted, so every counter and histogram only ever
grows (as Prometheus expects) while a scrape reads just the runs that finished since the
last one.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, NamedTuple

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from services.common.bus import queue_name
from services.common.pins import PinStore
from services.common.redis_types import RedisClient, bytes_client
from services.common.run_models import Run
from services.common.run_records import STAGE_ORDER
from services.common.runs import RunStore
from services.common.service_inventory import InventoryStore

if TYPE_CHECKING:
    import redis

BUCKETS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)
IN_PROGRESS = ("queued", "running")


class _StageDurations:
    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS) + 1)  # the last bucket is +Inf
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        self.total += seconds
        index = next((i for i, bound in enumerate(BUCKETS) if seconds <= bound), len(BUCKETS))
        self.counts[index] += 1

    def cumulative(self) -> list[tuple[str, float]]:
        bounds = [*(str(b) for b in BUCKETS), "+Inf"]
        running, out = 0, []
        for bound, count in zip(bounds, self.counts, strict=True):
            running += count
            out.append((bound, float(running)))
        return out


class ServicesSurveyed(NamedTuple):
    """Where the services behind are counted: the survey of each repository, and the pins."""

    inventory: InventoryStore
    pins: PinStore
    repositories: Sequence[str]


class PipelineCollector(Collector):
    """`redis`: the client the run store uses (queue depths are LLEN of each stage's queue);
    `surveyed`: where `shipline_services_behind` is read (absent without it)."""

    def __init__(
        self,
        runs: RunStore,
        redis: redis.Redis | RedisClient,
        stages: Sequence[str],
        surveyed: ServicesSurveyed | None = None,
    ) -> None:
        self._runs, self._redis, self._stages = runs, bytes_client(redis), tuple(stages)
        self._surveyed = surveyed
        self._lock = threading.Lock()
        self._counted: set[str] = set()
        self._settled_until = 0  # the number of the last settled run read (run_index.py)
        self._outcomes: Counter[str] = Counter()
        self._durations = {stage: _StageDurations() for stage in STAGE_ORDER}

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            in_progress = self._absorb_finished_runs()
            outcomes = CounterMetricFamily(
                "shipline_runs", "Finished runs by outcome.", labels=["outcome"]
            )
            for outcome, count in sorted(self._outcomes.items()):
                outcomes.add_metric([outcome], count)
            durations = HistogramMetricFamily(
                "shipline_stage_duration_seconds",
                "Time a service spent in each stage, over finished runs.",
                labels=["stage"],
            )
            for stage, histogram in self._durations.items():
                durations.add_metric([stage], histogram.cumulative(), histogram.total)
        running = GaugeMetricFamily(
            "shipline_runs_in_progress", "Runs queued or running.", labels=["status"]
        )
        for status in IN_PROGRESS:
            running.add_metric([status], in_progress[status])
        depths = GaugeMetricFamily(
            "shipline_queue_depth", "Tasks waiting in each stage's queue.", labels=["stage"]
        )
        for stage in self._stages:
            depths.add_metric([stage], self._redis.llen(queue_name(stage)))
        yield from (outcomes, durations, running, depths)
        if self._surveyed is not None:
            yield services_behind(self._surveyed)

    def _absorb_finished_runs(self) -> Counter[str]:
        if self._runs.index.built():
            return self._absorb_settled_runs()
        in_progress: Counter[str] = Counter()
        for run_id, _ in self._runs.newest_first():
            if run_id in self._counted:
                continue
            run = self._runs.get(run_id)
            if run is None or run.status is None:
                continue
            if run.status in IN_PROGRESS:
                in_progress[run.status] += 1
                continue
            self._count(run_id, run)
        return in_progress

    def _absorb_settled_runs(self) -> Counter[str]:
        """From the indexes: the runs settled since the last scrape, and how many runs each
        in-progress status holds."""
        index = self._runs.index
        for run_id, number in index.settled_after(self._settled_until):
            self._settled_until = max(self._settled_until, number)
            if run_id in self._counted:
                continue
            run = self._runs.get(run_id)
            if run is not None and run.status is not None and run.status not in IN_PROGRESS:
                self._count(run_id, run)
        return Counter(index.counts(IN_PROGRESS))

    def _count(self, run_id: str, run: Run) -> None:
        self._counted.add(run_id)
        self._outcomes[str(run.status)] += 1
        for service in run.services.values():
            for stage, marks in service.timings.items():
                if marks.seconds is not None and stage in self._durations:
                    self._durations[stage].observe(marks.seconds)


def services_behind(surveyed: ServicesSurveyed) -> GaugeMetricFamily:
    """Per surveyed repository, its services whose default branch holds a change they do not
    run (the survey's `behind_by`, services/committer/drift.py), a pinned one left out: it is
    held on purpose."""
    gauge = GaugeMetricFamily(
        "shipline_services_behind",
        "Services behind their default branch (a change not deployed), pinned ones left out.",
        labels=["repository"],
    )
    for repository in surveyed.repositories:
        survey = surveyed.inventory.read(repository)
        if survey is None:
            continue
        behind = [
            row
            for row in survey.services
            if (row.behind_by or 0) > 0 and surveyed.pins.get(repository, row.service) is None
        ]
        gauge.add_metric([repository], len(behind))
    return gauge

"""Resident memory of Shipline's processes (each with its children: Celery's pool), idle and
at its peak while a benchmark loads it."""

from __future__ import annotations

import threading
from collections import defaultdict

import psutil

MIB = 1024 * 1024


def tree_rss(pid: int) -> int:
    """Bytes resident in `pid` and its descendants (a Celery worker and its pool)."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for process in processes:
        try:
            total += process.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total


class MemoryProbe:
    """Samples named process trees: `idle()` once, `loaded()` as a context that keeps the peak."""

    def __init__(self) -> None:
        self.idle_mib: dict[str, list[float]] = defaultdict(list)
        self.peak_mib: dict[str, float] = defaultdict(float)

    def idle(self, processes: dict[str, int]) -> None:
        for name, pid in processes.items():
            self.idle_mib[name].append(tree_rss(pid) / MIB)

    def loaded(self, processes: dict[str, int], interval: float = 0.2) -> Sampling:
        return Sampling(self, processes, interval)


class Sampling:
    def __init__(self, probe: MemoryProbe, processes: dict[str, int], interval: float) -> None:
        self._probe = probe
        self._processes = processes
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> Sampling:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.wait(self._interval):
            for name, pid in self._processes.items():
                peak = self._probe.peak_mib
                peak[name] = max(peak[name], tree_rss(pid) / MIB)

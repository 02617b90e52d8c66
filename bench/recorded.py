"""A partial run's page kept whole: the benchmarks it did not run keep the figures (and the
memory) of the run recorded before it, in bench/results/results.json."""

from __future__ import annotations

from pathlib import Path

from bench import report
from bench.figures import Figure
from bench.memory import MemoryProbe

NOT_RECORDED = "its conditions were not recorded"


def merge(
    fresh: list[Figure],
    recorded: list[Figure],
    rows: dict[str, tuple[str, ...]],
    ran: list[str],
) -> list[Figure]:
    """The figures of the benchmarks `ran` from `fresh`, of the others from `recorded`, in
    the suite's order (`rows`: each benchmark's table names); a fresh figure no benchmark
    names comes last rather than being lost."""
    merged: list[Figure] = []
    for name, names in rows.items():
        source = fresh if name in ran else recorded
        merged += [figure for figure in source if figure.benchmark in names]
    return merged + [figure for figure in fresh if figure not in merged]


def keep(
    fresh: list[Figure],
    probe: MemoryProbe | None,
    rows: dict[str, tuple[str, ...]],
    measured: dict[str, str],
    results: Path,
) -> tuple[list[Figure], MemoryProbe | None, dict[str, str]]:
    """The page's figures and memory, and the conditions of the run that measured each
    benchmark: `measured`'s for the benchmarks this run measured, the recorded ones for the
    others (none kept when no run is recorded)."""
    if not results.is_file():
        return fresh, probe, measured
    recorded, memory = report.load_raw(results)
    figures = merge(fresh, recorded, rows, list(measured))
    shown = {figure.benchmark for figure in figures}
    kept = [
        name
        for name, names in rows.items()
        if name not in measured and any(table in shown for table in names)
    ]
    if probe is None and memory.idle_mib:
        probe, kept = memory, [*kept, "memory"]
    earlier = report.load_measured(results)
    return figures, probe, {**{name: earlier.get(name, NOT_RECORDED) for name in kept}, **measured}

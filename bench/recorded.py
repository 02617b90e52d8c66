"""A partial run's page kept whole: the benchmarks it did not run keep the figures (and the
memory) of the run recorded before it, in bench/results/results.json."""

from __future__ import annotations

from pathlib import Path

from bench import report
from bench.figures import Figure
from bench.memory import MemoryProbe


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
    ran: list[str],
    results: Path,
) -> tuple[list[Figure], MemoryProbe | None, str]:
    """The page's figures and memory, and a sentence for its conditions naming what was kept
    (nothing when no run is recorded)."""
    if not results.is_file():
        return fresh, probe, ""
    recorded, memory = report.load_raw(results)
    figures = merge(fresh, recorded, rows, ran)
    kept = sorted({f.benchmark for f in figures} - {f.benchmark for f in fresh})
    if probe is None and memory.idle_mib:
        probe, kept = memory, [*kept, "memory"]
    if not kept:
        return figures, probe, ""
    earlier = report.load_conditions(results)
    return (
        figures,
        probe,
        f"Kept from the run recorded before, not measured in this one: {', '.join(kept)}"
        + (f" (that run's conditions: {earlier})" if earlier else "")
        + ".",
    )

"""What every benchmark reports: a figure (median of runs) against its baseline and target."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, TypeVar

Better = Literal["lower", "higher"]
T = TypeVar("T")


@dataclass(frozen=True)
class Target:
    """A bound on the ratio ours / baseline: `<= 1.15` (lower is better) or `>= 0.7`."""

    bound: float
    better: Better = "lower"

    def met(self, ratio: float) -> bool:
        return ratio <= self.bound if self.better == "lower" else ratio >= self.bound

    def __str__(self) -> str:
        return f"{'≤' if self.better == 'lower' else '≥'} {self.bound:g}x"

    @classmethod
    def parse(cls, text: str) -> Target:
        """The target `str()` wrote (`≤ 1.5x`), as recorded in bench/results/results.json."""
        sign, bound = text.split()
        return cls(float(bound.rstrip("x")), "lower" if sign == "≤" else "higher")


@dataclass
class Figure:
    """One row of the table: medians of `runs` and `baseline_runs`, and what limits it;
    `curve`, where a benchmark measures more sizes than the row compares, is its median at
    each size (runs in the store, services in a release…), drawn as a growth chart."""

    benchmark: str
    name: str
    unit: str
    runs: list[float]
    baseline: str = ""
    baseline_runs: list[float] = field(default_factory=list)
    target: Target | None = None
    limit: str = ""
    curve: dict[int, float] = field(default_factory=dict)

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    @property
    def baseline_median(self) -> float | None:
        return statistics.median(self.baseline_runs) if self.baseline_runs else None

    @property
    def ratio(self) -> float | None:
        base = self.baseline_median
        return None if not base else self.median / base

    @property
    def met(self) -> bool | None:
        ratio = self.ratio
        return None if self.target is None or ratio is None else self.target.met(ratio)

    @property
    def verdict(self) -> str:
        return {None: "", True: "met", False: "MISSED"}[self.met]


def alternate(rounds: int, sides: list[Callable[[], T]], warmup: bool = True) -> list[list[T]]:
    """Each side's value per round (after one warm-up round); the order rotates each round so
    that drift in the machine's load hits every side alike."""
    results: list[list[T]] = [[] for _ in sides]
    for index in range(rounds + (1 if warmup else 0)):
        for offset in range(len(sides)):
            side = (index + offset) % len(sides)
            value = sides[side]()
            if index or not warmup:
                results[side].append(value)
    return results


def format_value(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "s":
        return f"{value:.2f} s"
    if unit in ("ms", "MiB"):
        return f"{value:.0f} {unit}" if value >= 100 else f"{value:.1f} {unit}"
    if unit.endswith("/s"):
        return f"{value:,.0f} {unit}"
    return f"{value:g} {unit}"


def print_figure(figure: Figure) -> None:
    """One line per figure as it is measured, then the raw runs."""
    ratio = figure.ratio
    parts = [
        f"{figure.benchmark}: {figure.name:<34} {format_value(figure.median, figure.unit):>14}"
    ]
    if figure.baseline_runs:
        parts.append(f"| {figure.baseline}: {format_value(figure.baseline_median, figure.unit)}")
        parts.append(f"| ratio {ratio:.2f}x" if ratio is not None else "")
    if figure.target is not None:
        parts.append(f"(target {figure.target}) {figure.verdict}")
    print(" ".join(p for p in parts if p), flush=True)
    runs = " ".join(f"{v:.3g}" for v in figure.runs)
    base = " ".join(f"{v:.3g}" for v in figure.baseline_runs)
    print(f"    runs: {runs}" + (f" | baseline runs: {base}" if base else ""), flush=True)

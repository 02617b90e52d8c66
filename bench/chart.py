"""The PNGs next to docs/benchmarks.md: each figure's ratio to its baseline and the fan-out
(`<page>.png`), then the growth charts (`<page>-<name>.png`, bench/growth_charts.py)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - the backend is chosen first
from matplotlib.ticker import FuncFormatter  # noqa: E402

from bench.figures import Figure  # noqa: E402
from bench.growth_charts import Chart, draw_growth  # noqa: E402

GOOD, BAD, PLAIN = "#2e7d32", "#c62828", "#607d8b"
RATIOS = "Ratios to the baselines, and the fan-out"


def draw_all(figures: list[Figure], page: Path) -> list[Chart]:
    """Every chart the figures have points for, beside the page (`page` with .png and with
    `-<name>.png`), in the order the page shows them."""
    if not figures:
        return []
    ratios = page.with_suffix(".png")
    draw(figures, ratios)
    return [Chart(ratios, RATIOS), *draw_growth(figures, page.with_suffix(""))]


def draw(figures: list[Figure], path: Path) -> None:
    rated = [f for f in figures if f.ratio is not None]
    fan_out = [f for f in figures if f.benchmark == "fan-out" and f.baseline_runs]
    columns = 2 if fan_out else 1
    fig, axes = plt.subplots(1, columns, figsize=(7 * columns, max(3.5, 0.42 * len(rated) + 1.5)))
    ratios_axis = axes[0] if columns == 2 else axes
    _ratios(ratios_axis, rated)
    if fan_out:
        _fan_out(axes[1], fan_out)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _ratios(axis: plt.Axes, figures: list[Figure]) -> None:
    labels = [f"{f.benchmark}: {f.name.strip()}" for f in figures]
    ratios = [f.ratio or 0.0 for f in figures]
    colors = [{True: GOOD, False: BAD, None: PLAIN}[f.met] for f in figures]
    rows = range(len(figures))
    axis.barh(rows, ratios, color=colors)
    for row, figure in zip(rows, figures, strict=True):
        if figure.target is not None:
            axis.plot([figure.target.bound] * 2, [row - 0.4, row + 0.4], color="black", lw=2)
    for row, ratio in zip(rows, ratios, strict=True):
        axis.text(ratio, row, f" {ratio:.2f}x", va="center", fontsize=7)
    axis.axvline(1.0, color="grey", ls="--", lw=1)
    axis.set_yticks(list(rows), labels, fontsize=8)
    axis.invert_yaxis()
    axis.set_xscale("log")
    bounds = ratios + [f.target.bound for f in figures if f.target] + [1.0]
    axis.set_xlim(min(bounds) / 2, max(bounds) * 2)
    axis.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}x"))
    axis.xaxis.set_minor_formatter(FuncFormatter(lambda value, _: ""))
    axis.set_xlabel(
        "Shipline / baseline, medians, log scale; black tick: target\n"
        "(times: lower is better; events/s and webhooks/s: higher is better)"
    )
    axis.set_title("Ratios to the baseline (green met, red missed)")


def _fan_out(axis: plt.Axes, figures: list[Figure]) -> None:
    series: dict[str, list[tuple[int, float]]] = {}
    script: dict[int, float] = {}
    for figure in figures:
        count = int(figure.name.split()[0])
        builders = figure.name.split(", ")[1]
        series.setdefault(f"Shipline, {builders}", []).append((count, figure.median))
        if figure.baseline_median is not None:
            script[count] = figure.baseline_median
    for name, points in series.items():
        axis.plot(*zip(*sorted(points), strict=True), marker="o", label=name)
    axis.plot(*zip(*sorted(script.items()), strict=True), marker="s", label="sequential script")
    axis.set_xlabel("services changed in one push (each build: RUN sleep 2)")
    axis.set_ylabel("seconds, webhook → last manifest commit (median)")
    axis.set_xticks(sorted(script))
    axis.set_title("Fan-out")
    axis.legend()

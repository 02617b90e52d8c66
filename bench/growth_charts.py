"""The growth charts beside docs/benchmarks.md: how a time grows with the size of the work
(runs in the store, builder processes, services in a release), from the suite's figures."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - the backend is chosen first
from matplotlib.ticker import FuncFormatter  # noqa: E402

from bench.figures import Figure  # noqa: E402

BUILDERS = re.compile(r"(\d+) builders?$")
SERVICES = re.compile(r"^(\d+) services")


@dataclass(frozen=True)
class Chart:
    """A PNG beside the page, and what the page says it shows."""

    path: Path
    caption: str


@dataclass(frozen=True)
class Curves:
    """A chart of one benchmark's figures that carry a curve: a line per figure."""

    benchmark: str
    suffix: str
    caption: str
    x_label: str
    y_label: str
    label: Callable[[Figure], str]
    log_x: bool = False


CURVES = (
    Curves(
        "runstore",
        "runstore",
        "Run-store endpoint latency against the runs in the store (200 services)",
        "runs in the store, log scale",
        "ms per request (median), log scale",
        lambda figure: figure.name.split(" at ")[0],
        log_x=True,
    ),
    Curves(
        "release scaling",
        "release-scaling",
        "The release's own work per service against the services in it (in process, no "
        "Docker; flat is linear)",
        "services in the release (N)",
        "ms per service (the survey: per commit), median, log scale",
        lambda figure: figure.name.split(", per ")[0],
    ),
)


def draw_growth(figures: list[Figure], stem: Path) -> list[Chart]:
    """Every growth chart the figures have points for, as `<stem>-<suffix>.png`."""
    charts = []
    for curves in CURVES:
        drawn = [f for f in figures if f.benchmark == curves.benchmark and len(f.curve) > 1]
        if drawn:
            charts.append(_curves(curves, drawn, Path(f"{stem}-{curves.suffix}.png")))
    release = _release(figures, Path(f"{stem}-release.png"))
    return charts[:1] + ([release] if release else []) + charts[1:]


def _curves(curves: Curves, figures: list[Figure], path: Path) -> Chart:
    fig, axis = plt.subplots(figsize=(7, 4.2))
    for figure in figures:
        sizes = sorted(figure.curve)
        axis.plot(sizes, [figure.curve[n] for n in sizes], marker="o", label=curves.label(figure))
    sizes = sorted({n for figure in figures for n in figure.curve})
    if curves.log_x:
        axis.set_xscale("log")
    axis.set_xticks(sizes, [f"{n:,}" for n in sizes])
    axis.xaxis.set_minor_formatter(FuncFormatter(lambda value, _: ""))
    axis.set_yscale("log")  # lines of very different heights; equal slopes, equal growth
    plain = FuncFormatter(lambda value, _: f"{value:g}")
    axis.yaxis.set_major_formatter(plain)
    axis.yaxis.set_minor_formatter(plain)
    axis.set_xlabel(curves.x_label)
    axis.set_ylabel(curves.y_label)
    axis.set_title(curves.caption.split(" (")[0], fontsize=10)
    axis.legend(fontsize=7)
    _save(fig, path)
    return Chart(path, curves.caption)


def _release(figures: list[Figure], path: Path) -> Chart | None:
    """The release's wall time against its builder processes, beside the sequential script."""
    release = [f for f in figures if f.benchmark == "release" and BUILDERS.search(f.name)]
    completed = _by_builders(f for f in release if "run completed" in f.name)
    if len(completed) < 2:
        return None
    pushed = _by_builders(f for f in release if "last image is pushed" in f.name)
    script = next((f.baseline_median for f in completed.values() if f.baseline_median), None)
    size = SERVICES.search(next(iter(completed.values())).name)
    services = f"{size[1]} services" if size else "the services"
    fig, axis = plt.subplots(figsize=(7, 4.2))
    for name, series in (("tag → run completed", completed), ("until the last push", pushed)):
        builders = sorted(series)
        axis.plot(builders, [series[b].median for b in builders], marker="o", label=name)
    if script is not None:
        axis.axhline(script, color="black", ls="--", lw=1, label="sequential script")
    axis.set_xticks(sorted(completed))
    axis.set_ylim(bottom=0)
    axis.set_xlabel("builder processes (concurrency 1 each, one shared Docker engine)")
    axis.set_ylabel("seconds (median)")
    axis.set_title(f"A release of {services}", fontsize=10)
    axis.legend(fontsize=8)
    _save(fig, path)
    return Chart(path, f"A release tag on {services}: wall time against builder processes")


def _by_builders(figures: Iterable[Figure]) -> dict[int, Figure]:
    found: dict[int, Figure] = {}
    for figure in figures:
        match = BUILDERS.search(figure.name)
        if match:
            found[int(match[1])] = figure
    return found


def _save(fig: plt.Figure, path: Path) -> None:
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)

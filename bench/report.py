"""docs/benchmarks.md: the machine, how to rerun, the table of figures and targets, memory,
the charts; and the raw runs recorded in bench/results/results.json, and read back."""

from __future__ import annotations

import json
import os
import statistics
from dataclasses import asdict
from pathlib import Path

from bench.figures import Figure, Target, format_value
from bench.growth_charts import Chart
from bench.memory import MemoryProbe

RERUN = """\
```sh
make bench                                     # everything, default rounds (about 30 min)
make bench BENCH_ARGS='--note "a quiet machine"'   # a remark for the conditions line
.venv/bin/python -m bench.run --only leadtime --rounds 3   # one benchmark
.venv/bin/python -m bench.run --only runstore --keep   # one again, the others kept
.venv/bin/python -m bench.run --list           # the benchmarks and their default rounds
```

`make bench` runs `deploy/dev/bootstrap.sh` (the venv's test extras include the `bench`
extras, matplotlib and psutil) and then `python -m bench.run`, which starts its own Redis,
registry and (if no engine answers) the private dockerd, as the tests do; the logs of every
process stay in `.shipline/bench/` until the next run. What each benchmark measures:
`bench/README.md` in the repository.
"""


def write(
    path: Path,
    charts: list[Chart],
    figures: list[Figure],
    memory: MemoryProbe | None,
    machine: dict[str, str],
    measured: dict[str, str],
) -> None:
    """`measured`: each benchmark's conditions, those of the run that measured it."""
    lines = [
        "# Benchmarks",
        "",
        "Shipline against a baseline measured in the same run, on the same components: medians",
        "of several runs and their ratio, never a single absolute time. Written by",
        "`make bench` (bench/run.py); the raw runs are in `bench/results/results.json`.",
        "",
        "**Conditions.** Other work on the machine shifts the absolute times; the ratios compare",
        "sides measured in turns within the same run. The run that measured each benchmark:",
        "",
        *_conditions(measured),
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        *(f"| {key} | {value} |" for key, value in machine.items()),
        "",
        "## How to rerun",
        "",
        RERUN,
        "## Figures",
        "",
        *_summary(figures),
        "| benchmark | figure | Shipline | baseline | its median | ratio | target | | limited by |",
        "|---|---|---:|---|---:|---:|---|---|---|",
        *(
            _row(figure, figures[index - 1] if index else None)
            for index, figure in enumerate(figures)
        ),
        "",
    ]
    if memory is not None and memory.idle_mib:
        lines += [
            "## Memory",
            "",
            "Resident memory (RSS) of each process with its children (a Celery worker's pool),",
            "idle after its first run, and the peak sampled every 0.2 s under load: the fan-out",
            "with 4 builders for the workers (the first builder's process shown), the",
            "ingestion load for the gateway. The scanner's figure includes the Trivy process it",
            "runs; the builder's does not include dockerd, where the builds run.",
            "",
            "| process | idle | under load (peak) |",
            "|---|---:|---:|",
            *(
                f"| {name} | {format_value(statistics.median(idle), 'MiB')} | "
                f"{format_value(memory.peak_mib.get(name), 'MiB')} |"
                for name, idle in memory.idle_mib.items()
            ),
            "",
        ]
    if charts:
        lines += ["## Charts", ""]
        for chart in charts:
            relative = os.path.relpath(chart.path, path.parent)
            lines += [f"### {chart.caption}", "", f"![{chart.caption}]({relative})", ""]
    path.write_text("\n".join(lines))


def _conditions(measured: dict[str, str]) -> list[str]:
    """One line per run: the benchmarks it measured, then its conditions."""
    runs: dict[str, list[str]] = {}
    for name, conditions in measured.items():
        runs.setdefault(conditions, []).append(name)
    return [f"- {', '.join(names)}: {conditions}" for conditions, names in runs.items()]


def _summary(figures: list[Figure]) -> list[str]:
    targeted = [f for f in figures if f.met is not None]
    if not targeted:
        return []

    def named(figure: Figure) -> str:
        return f"{figure.benchmark} ({figure.name.strip()}: {figure.ratio:.2f}x, {figure.target})"

    met = [named(f) for f in targeted if f.met]
    missed = [named(f) for f in targeted if not f.met]
    return [
        f"Targets met: {len(met)} of {len(targeted)}" + (f" — {'; '.join(met)}." if met else "."),
        "",
        *([f"Targets missed: {'; '.join(missed)}.", ""] if missed else []),
    ]


def _row(figure: Figure, previous: Figure | None) -> str:
    """A table row; the limit is said once for rows in a row that share it."""
    ratio = figure.ratio
    same = previous is not None and previous.limit == figure.limit
    cells = [
        figure.benchmark,
        figure.name.strip() if not figure.name.startswith("  ") else f"↳ {figure.name.strip()}",
        format_value(figure.median, figure.unit),
        figure.baseline,
        format_value(figure.baseline_median, figure.unit) if figure.baseline_runs else "",
        f"{ratio:.2f}x" if ratio is not None else "",
        str(figure.target) if figure.target else "",
        {True: "met", False: "**missed**", None: ""}[figure.met],
        "〃" if same else figure.limit,
    ]
    return "| " + " | ".join(cells) + " |"


def save_raw(
    path: Path,
    figures: list[Figure],
    memory: MemoryProbe | None,
    measured: dict[str, str] | None = None,
) -> None:
    data = {
        "measured": measured or {},
        "figures": [
            {**asdict(f), "target": str(f.target) if f.target else None, "ratio": f.ratio}
            for f in figures
        ],
        "memory": {
            "idle_mib": dict(memory.idle_mib) if memory else {},
            "peak_mib": dict(memory.peak_mib) if memory else {},
        },
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")


def load_raw(path: Path) -> tuple[list[Figure], MemoryProbe]:
    """The figures and memory `save_raw` recorded (a chart or a page drawn again from them)."""
    data = json.loads(path.read_text())
    figures = [
        Figure(
            **{
                **{key: value for key, value in raw.items() if key != "ratio"},
                "target": Target.parse(raw["target"]) if raw.get("target") else None,
                "curve": {int(size): value for size, value in raw.get("curve", {}).items()},
            }
        )
        for raw in data["figures"]
    ]
    memory = MemoryProbe()
    memory.idle_mib.update(data.get("memory", {}).get("idle_mib", {}))
    memory.peak_mib.update(data.get("memory", {}).get("peak_mib", {}))
    return figures, memory


def load_measured(path: Path) -> dict[str, str]:
    """Each recorded benchmark's conditions (none recorded before they were kept apart)."""
    return dict(json.loads(path.read_text()).get("measured", {}))

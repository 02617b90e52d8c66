"""Run the benchmark suite (or some of it) and write docs/benchmarks.md with its charts.

    python -m bench.run                          # everything, default rounds: `make bench`
    python -m bench.run --only leadtime --rounds 3
    python -m bench.run --list
    python -m bench.run --only runstore --keep      # the others' figures kept: the whole page

Exits 0 when every benchmark ran, whether or not it met its target (a missed target is
reported as missed); 1 when one failed to run. With --only, the report is written only when
--output or --keep is given.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench import recorded, report
from bench.bench_argocd_sync import argocd_sync
from bench.bench_converge import converge
from bench.bench_reconciler import reconciler
from bench.bench_release import SIZE as RELEASE_SIZE
from bench.bench_release import release
from bench.bench_run_store import HISTORIES, run_store_growth
from bench.bus import bus_throughput
from bench.chart import draw_all
from bench.detection import detection
from bench.figures import Figure
from bench.ingest import ingestion
from bench.machine import describe
from bench.memory import MemoryProbe
from bench.pipeline import MANY_BUILDERS, Pipeline, fan_out, lead_time, no_op
from bench.stack import Components
from services.common.logging import configure_logging
from services.scanner.trivy import locate_trivy

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Benchmark:
    rounds: int
    about: str
    rows: tuple[str, ...] = ()  # the `benchmark` of its figures, as the table names it


BENCHMARKS = {
    "detect": Benchmark(
        15, "the detector's mapping of a large push, against git diff", ("detection",)
    ),
    "bus": Benchmark(3, "events/s through the bus, against raw Redis LPUSH/BRPOP", ("bus",)),
    "ingest": Benchmark(
        3, "webhooks/s and latency of the gateway, against a bare 202", ("ingestion",)
    ),
    "leadtime": Benchmark(
        5, "webhook → ManifestCommitted, against the by-hand script", ("lead time",)
    ),
    "noop": Benchmark(
        5, "Shipline's own cost per service when no stage has work to do", ("no-op pipeline",)
    ),
    "fanout": Benchmark(3, "1–8 services with 1 and 4 builders, against the script", ("fan-out",)),
    "memory": Benchmark(1, "RSS of each process, idle and under load"),
    "argosync": Benchmark(
        5, "commit → healthy with the Argo CD refresh, against its poll", ("argosync",)
    ),
    "release": Benchmark(
        1,
        "a release tag on N services: 1, 4, 8 builders against the script",
        ("release", "release scaling"),
    ),
    "runstore": Benchmark(
        15, "API latency at 100, 1,000, 10,000 runs over 200 services", ("runstore",)
    ),
    "converge": Benchmark(
        15, "detection judged on each service's deployed commit, vs git diff", ("converge",)
    ),
    "reconciler": Benchmark(
        3, "lead time with the reconciler passing every 1 s, against off", ("reconciler",)
    ),
}
PIPELINE = ("leadtime", "noop", "fanout", "memory")


@dataclass
class Options:
    only: list[str]
    rounds: int | None
    ingest_seconds: float
    bus_scale: float
    workdir: Path
    release_size: int = RELEASE_SIZE
    runstore_runs: tuple[int, ...] = HISTORIES

    def rounds_of(self, name: str) -> int:
        return self.rounds or BENCHMARKS[name].rounds


def run(options: Options, probe: MemoryProbe | None) -> list[Figure]:
    figures: list[Figure] = []
    selected = options.only
    if "detect" in selected:
        figures += detection(options.rounds_of("detect"))
    if "bus" in selected:
        figures += bus_throughput(options.workdir, options.rounds_of("bus"), options.bus_scale)
    if "argosync" in selected:
        figures += argocd_sync(options.rounds_of("argosync"))
    if "runstore" in selected:
        figures += run_store_growth(options.rounds_of("runstore"), options.runstore_runs)
    if "ingest" in selected or probe is not None:
        ingest = ingestion(
            options.workdir, options.rounds_of("ingest"), options.ingest_seconds, probe
        )
        figures += ingest if "ingest" in selected else []
    if any(name in selected for name in PIPELINE):
        figures += pipeline(options, probe)
    if "release" in selected:
        figures += release(options.workdir, options.rounds_of("release"), options.release_size)
    if "converge" in selected:
        figures += converge(options.rounds_of("converge"))
    if "reconciler" in selected:
        figures += reconciler(options.workdir / "reconciler", options.rounds_of("reconciler"))
    return figures


def pipeline(options: Options, probe: MemoryProbe | None) -> list[Figure]:
    selected = options.only
    components = Components(options.workdir)
    figures: list[Figure] = []
    try:
        components.start()
        pipe = Pipeline.start(components)
        try:
            if "leadtime" in selected:
                figures += lead_time(pipe, options.rounds_of("leadtime"))
            else:
                pipe.ship_sample()  # warm-up: every worker has served once
            if probe is not None:
                time.sleep(2)
                probe.idle(pipe.workers())
            if "noop" in selected:
                figures += no_op(pipe, options.rounds_of("noop"))
            if "fanout" in selected:
                figures += fan_out(pipe, options.rounds_of("fanout"), probe)
            elif probe is not None:
                pipe.stack.add_builders(MANY_BUILDERS - 1)
                with probe.loaded(pipe.workers()):
                    pipe.ship_fleet(len(pipe.fleet.services))
        finally:
            pipe.stack.stop()
    finally:
        components.stop()
    return figures


def conditions(options: Options, started: float, load_before: str, note: str) -> dict[str, str]:
    """Each benchmark this run measured, with the run's conditions."""
    rounds = ", ".join(f"{name} {options.rounds_of(name)}" for name in options.only)
    load_after = " / ".join(f"{value:.2f}" for value in os.getloadavg())
    said = (
        f"{datetime.fromtimestamp(started, UTC):%Y-%m-%d %H:%M} UTC; rounds (after a warm-up):"
        f" {rounds}; took {(time.time() - started) / 60:.1f} min; load average (1/5/15 min)"
        f" {load_before} before and {load_after} after" + (f"; {note}" if note else "")
    )
    return {name: said for name in options.only}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=list(BENCHMARKS), metavar="NAME")
    parser.add_argument("--rounds", type=int, help="measured rounds of every benchmark")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument(
        "--output", type=Path, help="the report to write (its charts beside it, .png)"
    )
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--workdir", type=Path, default=ROOT / ".shipline" / "bench")
    parser.add_argument("--ingest-seconds", type=float, default=5.0, help="load per round")
    parser.add_argument("--bus-scale", type=float, default=1.0, help="events per round, scaled")
    parser.add_argument(
        "--release-size", type=int, default=RELEASE_SIZE, help="services in the release"
    )
    parser.add_argument(
        "--runstore-runs",
        type=int,
        nargs="+",
        default=HISTORIES,
        metavar="RUNS",
        help="the run histories of the run store benchmark: the row compares the last with "
        "the first; every size is a point of its growth chart",
    )
    parser.add_argument("--note", default="", help="a remark on the conditions, for the report")
    parser.add_argument(
        "--keep",
        action="store_true",
        help="with --only: the other benchmarks keep their recorded figures (--results), and "
        "the whole page is written (docs/benchmarks.md unless --output)",
    )
    args = parser.parse_args(argv)
    if args.list:
        for name, benchmark in BENCHMARKS.items():
            print(f"{name:<10} {benchmark.rounds:>3} rounds  {benchmark.about}")
        return 0
    page = ROOT / "docs" / "benchmarks.md"
    output = args.output or (None if args.only and not args.keep else page)
    options = Options(
        args.only or list(BENCHMARKS),
        args.rounds,
        args.ingest_seconds,
        args.bus_scale,
        args.workdir.resolve(),
        args.release_size,
    )
    options.runstore_runs = tuple(args.runstore_runs)
    configure_logging("console", "WARNING")
    started, load_before = time.time(), " / ".join(f"{v:.2f}" for v in os.getloadavg())
    probe = MemoryProbe() if "memory" in options.only else None
    try:
        shutil.rmtree(options.workdir, ignore_errors=True)
        options.workdir.mkdir(parents=True)
        machine = describe(locate_trivy(None))
        figures = run(options, probe)
    except Exception:  # noqa: BLE001 - any failure to measure: say where, exit non-zero
        traceback.print_exc()
        print(f"\nbenchmark failed; logs in {options.workdir}", file=sys.stderr)
        return 1
    measured = conditions(options, started, load_before, args.note)
    if args.keep:
        rows = {name: benchmark.rows for name, benchmark in BENCHMARKS.items()}
        figures, probe, measured = recorded.keep(
            figures, probe, rows, measured, args.results / "results.json"
        )
    return finish(figures, probe, output, args.results, machine, measured)


def finish(
    figures: list[Figure],
    probe: MemoryProbe | None,
    output: Path | None,
    results: Path,
    machine: dict[str, str],
    measured: dict[str, str],
) -> int:
    missed = [f for f in figures if f.met is False]
    print(f"\n{len(figures)} figures; targets missed: {len(missed)}")
    for figure in missed:
        name = f"{figure.benchmark}: {figure.name.strip()}"
        print(f"  MISSED {name} {figure.ratio:.2f}x (target {figure.target})")
    if probe is not None:
        for name, idle in probe.idle_mib.items():
            peak = probe.peak_mib.get(name, 0.0)
            print(f"memory {name:<10} idle {idle[-1]:6.1f} MiB, peak {peak:6.1f} MiB")
    if output is not None:
        charts = draw_all(figures, output)  # beside the page: the docs site shows them
        report.save_raw(results / "results.json", figures, probe, measured)
        report.write(output, charts, figures, probe, machine, measured)
        print(f"wrote {output}" + "".join(f" and {chart.path}" for chart in charts))
    return 0


if __name__ == "__main__":
    sys.exit(main())

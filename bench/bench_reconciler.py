"""Benchmark: what the reconciler costs the lead time (webhook → ManifestCommitted).

The microbank sample shipped by a Shipline whose reconciler is off, then by one whose
reconciler passes every second (`reconciler.period_seconds: 1`, 30 times its default rate,
so any cost shows: its re-drive look at the runs in flight and its retry look at the
branch's last builds) and sweeps from git every 5 s (`sweep_seconds: 5`, 60 times its
default rate: a fetch, the trailers and a diff per sweep), in blocks off, on, on, off (a
trend in the machine's load hits both alike), `--rounds` pushes a block after a warm-up
push. Prints each side's median and their ratio (on / off); `make bench` reports it as the
`reconciler` row. No target: a reference for docs/reliability.md.

    python -m bench.bench_reconciler --rounds 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

from bench.figures import Figure, print_figure
from bench.stack import Components, Stack
from services.demo.scenario import SampleMonorepo

SIDES: dict[str, dict[str, Any]] = {
    "off": {"enabled": False},
    "on": {"enabled": True, "period_seconds": 1, "sweep_seconds": 5},
}
ORDER = ("off", "on", "on", "off")


def block(components: Components, sample: SampleMonorepo, side: str, rounds: int) -> list[float]:
    """Lead times of `rounds` pushes (after a warm-up) through a Shipline with `side`."""
    stack = Stack(components, [sample], reconciler=SIDES[side])
    try:
        stack.start()
        times = []
        for index in range(rounds + 1):
            push = sample.append("user_service/app.txt", f"change {uuid.uuid4()}", "bench")
            took = stack.lead_time(sample, push, 1)
            if index:
                times.append(took)
                print(f"  reconciler {side}: {took:.2f} s", flush=True)
        return times
    finally:
        stack.stop()


def lead_times(workdir: Path, rounds: int) -> dict[str, list[float]]:
    """Each side's lead times, over blocks in ORDER, on components of its own."""
    components = Components(workdir)
    try:
        components.start()
        sample = SampleMonorepo(workdir / "repos")
        sample.create(f"{components.registry.host}/microbank", components.base_image)
        runs: dict[str, list[float]] = {side: [] for side in SIDES}
        for side in ORDER:
            runs[side] += block(components, sample, side, rounds)
        return runs
    finally:
        components.stop()


def reconciler(workdir: Path, rounds: int) -> list[Figure]:
    """The suite's row: the lead time with the reconciler on against off."""
    runs = lead_times(workdir, rounds)
    figure = Figure(
        "reconciler",
        "lead time, reconciler passing every 1 s and sweeping from git every 5 s",
        "s",
        runs["on"],
        "reconciler off",
        runs["off"],
        limit="its passes read the runs in flight and the branch's last builds; each sweep "
        "fetches, reads the trailers and diffs (30 and 60 times their default rates)",
    )
    print_figure(figure)
    return [figure]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="pushes per block (4 blocks)")
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-reconciler-") as tmp:
        runs = lead_times(Path(tmp), options.rounds)
    off, on = statistics.median(runs["off"]), statistics.median(runs["on"])
    print(f"lead time, reconciler off:             median {off:.2f} s ({len(runs['off'])} runs)")
    print(f"lead time, reconciler on (period 1 s): median {on:.2f} s ({len(runs['on'])} runs)")
    print(f"ratio on / off: {on / off:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

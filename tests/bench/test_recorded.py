"""A partial run keeps the recorded figures of the benchmarks it did not run
(bench/recorded.py, `python -m bench.run --only … --keep`)."""

from __future__ import annotations

import shutil
from pathlib import Path

from bench.figures import Figure
from bench.recorded import keep, merge

RECORDED = Path(__file__).with_name("recorded_results.json")
ROWS = {"detect": ("detection",), "runstore": ("runstore",), "release": ("release",)}


def figure(benchmark: str, name: str, median: float) -> Figure:
    return Figure(benchmark, name, "ms", [median])


def test_the_benchmarks_run_replace_their_rows_and_the_others_keep_theirs_in_order() -> None:
    recorded = [figure("runstore", "old", 1), figure("detection", "kept", 2)]
    fresh = [figure("runstore", "new", 3), figure("newcomer", "unlisted", 4)]

    merged = merge(fresh, recorded, ROWS, ["runstore"])

    assert [(f.benchmark, f.name) for f in merged] == [
        ("detection", "kept"),
        ("runstore", "new"),
        ("newcomer", "unlisted"),
    ]


def test_without_a_recorded_run_only_the_fresh_figures_are_written(tmp_path: Path) -> None:
    fresh = [figure("runstore", "new", 3)]

    figures, probe, said = keep(fresh, None, ROWS, ["runstore"], tmp_path / "results.json")

    assert (figures, probe, said) == (fresh, None, "")


def test_the_kept_benchmarks_and_the_earlier_conditions_are_said(tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    shutil.copy(RECORDED, results)

    figures, probe, said = keep([figure("runstore", "new", 3)], None, ROWS, ["runstore"], results)

    assert [f.name for f in figures if f.benchmark == "runstore"] == ["new"]
    assert {f.benchmark for f in figures} == {"detection", "runstore", "release"}
    assert probe is not None and probe.peak_mib == {"gateway": 79.2}
    assert said == (
        "Kept from the run recorded before, not measured in this one: detection, release, memory."
    )

"""A partial run keeps the recorded figures of the benchmarks it did not run
(bench/recorded.py, `python -m bench.run --only … --keep`)."""

from __future__ import annotations

import shutil
from pathlib import Path

from bench import report
from bench.figures import Figure
from bench.recorded import NOT_RECORDED, keep, merge

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

    measured = {"runstore": "today"}

    figures, probe, said = keep(fresh, None, ROWS, measured, tmp_path / "results.json")

    assert (figures, probe, said) == (fresh, None, measured)


def test_each_kept_benchmark_keeps_the_conditions_of_the_run_that_measured_it(
    tmp_path: Path,
) -> None:
    results = tmp_path / "results.json"
    shutil.copy(RECORDED, results)
    fresh = [figure("runstore", "new", 3)]

    figures, probe, measured = keep(fresh, None, ROWS, {"runstore": "today"}, results)

    assert [f.name for f in figures if f.benchmark == "runstore"] == ["new"]
    assert {f.benchmark for f in figures} == {"detection", "runstore", "release"}
    assert probe is not None and probe.peak_mib == {"gateway": 79.2}
    assert measured == {
        "detect": "the full run",
        "release": "a release alone",
        "memory": NOT_RECORDED,
        "runstore": "today",
    }


def test_a_page_kept_twice_names_each_run_once(tmp_path: Path) -> None:
    """Kept conditions are the earlier run's own, never wrapped in the run after it's."""
    results = tmp_path / "results.json"
    shutil.copy(RECORDED, results)
    page = tmp_path / "benchmarks.md"
    for today in ("monday", "tuesday"):
        figures, probe, measured = keep(
            [figure("runstore", today, 3)], None, ROWS, {"runstore": today}, results
        )
        report.save_raw(results, figures, probe, measured)
    report.write(page, [], figures, probe, {}, measured)

    lines = page.read_text().splitlines()
    assert "- detect: the full run" in lines
    assert "- release: a release alone" in lines
    assert "- runstore: tuesday" in lines
    assert "monday" not in page.read_text()

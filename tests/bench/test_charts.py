"""The benchmark page's charts, drawn from a recorded run (recorded_results.json: the format
bench/results/results.json is written in, with a few figures of each benchmark that has a
chart) and linked from the page the report writer writes."""

from __future__ import annotations

import re
from pathlib import Path

from bench import report
from bench.chart import draw_all
from bench.figures import Figure, Target

RECORDED = Path(__file__).with_name("recorded_results.json")
MACHINE = {"CPUs": "2"}
PNG = b"\x89PNG\r\n\x1a\n"


def page_of(figures: list[Figure], directory: Path) -> tuple[Path, str]:
    page = directory / "benchmarks.md"
    charts = draw_all(figures, page)
    report.write(page, charts, figures, None, MACHINE, {"runstore": "a test"})
    return page, page.read_text()


def linked_images(text: str) -> list[str]:
    return re.findall(r"!\[[^\]]+\]\(([^)]+)\)", text)


def test_a_recorded_run_draws_the_ratio_and_growth_charts_beside_the_page(tmp_path: Path) -> None:
    figures, _ = report.load_raw(RECORDED)

    page, text = page_of(figures, tmp_path)

    expected = [
        "benchmarks.png",
        "benchmarks-runstore.png",
        "benchmarks-release.png",
        "benchmarks-release-scaling.png",
    ]
    assert linked_images(text) == expected
    assert sorted(p.name for p in tmp_path.glob("*.png")) == sorted(expected)
    for name in expected:
        assert (page.parent / name).read_bytes().startswith(PNG)
    assert "### Run-store endpoint latency against the runs in the store" in text
    assert "### A release tag on 200 services: wall time against builder processes" in text


def test_a_run_without_growth_points_links_only_the_ratio_chart(tmp_path: Path) -> None:
    figures, _ = report.load_raw(RECORDED)
    runstore_at_two_sizes = [f for f in figures if f.benchmark == "runstore"]
    for figure in runstore_at_two_sizes:
        figure.curve = {}

    _, text = page_of(runstore_at_two_sizes, tmp_path)

    assert linked_images(text) == ["benchmarks.png"]
    assert [p.name for p in tmp_path.glob("*.png")] == ["benchmarks.png"]
    assert "| runstore | GET /metrics at 10,000 runs |" in text


def test_no_figures_write_a_page_without_charts(tmp_path: Path) -> None:
    _, text = page_of([], tmp_path)

    assert linked_images(text) == []
    assert "## Charts" not in text
    assert list(tmp_path.glob("*.png")) == []


def test_the_recorded_runs_read_back_as_the_figures_that_were_saved(tmp_path: Path) -> None:
    figures, memory = report.load_raw(RECORDED)

    report.save_raw(tmp_path / "results.json", figures, memory)
    again, memory_again = report.load_raw(tmp_path / "results.json")

    assert again == figures
    assert memory_again.peak_mib == {"gateway": 79.2}
    runstore = next(f for f in again if f.benchmark == "runstore")
    assert runstore.curve == {100: 41.0, 1000: 40.1, 10000: 34.0}
    assert runstore.target == Target(1.5)
    ingestion = next(f for f in again if f.benchmark == "ingestion")
    assert ingestion.target == Target(0.7, "higher") and ingestion.met is False


def test_a_run_recorded_before_the_growth_curves_still_reads_back() -> None:
    # bench/results/results.json as make bench wrote it in session 8, before the curves
    figures, _ = report.load_raw(Path(__file__).parent / "recorded_results_before_curves.json")

    assert figures and all(figure.curve == {} for figure in figures)

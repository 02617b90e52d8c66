"""The benchmark suite still runs: its cheapest benchmarks, one short round each, through to
docs/benchmarks.md and its chart (the pipeline benchmarks take minutes: `make bench`)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration  # runs the benchmarks: too slow for the unit lane

ROOT = Path(__file__).resolve().parents[2]


def bench(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench.run", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_cheapest_benchmarks_run_and_write_the_report_with_its_chart(tmp_path: Path) -> None:
    output = tmp_path / "benchmarks.md"
    result = bench(
        "--only", "detect", "bus", "ingest",
        "--rounds", "1",
        "--ingest-seconds", "1",
        "--bus-scale", "0.1",
        "--output", str(output),
        "--results", str(tmp_path / "results"),
        "--workdir", str(tmp_path / "work"),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    report = output.read_text()
    for row in ("| detection |", "| bus |", "| ingestion |", "## Machine", "## How to rerun"):
        assert row in report
    assert (tmp_path / "benchmarks.png").read_bytes().startswith(b"\x89PNG")
    assert "(benchmarks.png)" in report  # beside the page: valid for the docs site
    assert (tmp_path / "results" / "results.json").is_file()


def test_every_benchmark_is_listed_with_its_default_rounds() -> None:
    result = bench("--list")
    assert result.returncode == 0
    names = [line.split()[0] for line in result.stdout.splitlines()]
    pipeline = ["leadtime", "noop", "fanout", "memory"]
    others = ["argosync", "release", "runstore", "converge", "reconciler"]
    assert names == ["detect", "bus", "ingest", *pipeline, *others]


def test_the_argo_cd_sync_benchmark_reports_the_refresh_against_the_poll(tmp_path: Path) -> None:
    output = tmp_path / "benchmarks.md"
    result = bench(
        "--only", "argosync",
        "--rounds", "1",
        "--output", str(output),
        "--results", str(tmp_path / "results"),
        "--workdir", str(tmp_path / "work"),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "argosync: push → healthy, refresh annotation" in result.stdout
    assert "poll every 3 s standing for 180 s" in output.read_text()
    assert "| argosync |" in output.read_text()


def test_the_run_store_benchmark_reports_each_endpoints_growth_with_the_history(
    tmp_path: Path,
) -> None:
    output = tmp_path / "benchmarks.md"
    result = bench(
        "--only", "runstore",
        "--rounds", "1",
        "--runstore-runs", "10", "30", "60",
        "--output", str(output),
        "--results", str(tmp_path / "results"),
        "--workdir", str(tmp_path / "work"),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    for endpoint in ("GET /api/v1/services", "GET /api/v1/runs?status=failed", "GET /metrics"):
        assert f"runstore: {endpoint} at 60 runs" in result.stdout
    report = output.read_text()
    assert "| runstore | GET /metrics at 60 runs | " in report and "; at 30 runs " in report
    assert "![Run-store endpoint latency" in report
    assert (tmp_path / "benchmarks-runstore.png").read_bytes().startswith(b"\x89PNG")
    recorded = json.loads((tmp_path / "results" / "results.json").read_text())
    curves = [figure["curve"] for figure in recorded["figures"]]
    assert curves and all(sorted(curve) == ["10", "30", "60"] for curve in curves)


def test_a_partial_run_kept_whole_keeps_the_recorded_figures_of_the_others(
    tmp_path: Path,
) -> None:
    results = tmp_path / "results"
    results.mkdir()
    shutil.copy(ROOT / "tests" / "bench" / "recorded_results.json", results / "results.json")
    output = tmp_path / "benchmarks.md"
    result = bench(
        "--only", "runstore",
        "--rounds", "1",
        "--runstore-runs", "10", "60",
        "--keep",
        "--output", str(output),
        "--results", str(results),
        "--workdir", str(tmp_path / "work"),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    report = output.read_text()
    assert "| runstore | GET /metrics at 60 runs |" in report
    assert "at 10,000 runs" not in report  # the recorded runstore rows are replaced
    assert "| detection | push → services to build" in report
    assert "| release | 200 services, tag → run completed, 4 builders |" in report
    assert "| gateway | 78.1 MiB | 79.2 MiB |" in report
    conditions = [line for line in report.splitlines() if line.startswith("- ")]
    assert conditions[:3] == [
        "- detect, ingest, fanout: the full run",
        "- release: a release alone",
        "- memory: its conditions were not recorded",
    ]
    assert (
        conditions[3].startswith("- runstore: 20")
        and "rounds (after a warm-up): runstore 1;" in conditions[3]
    )
    assert "(benchmarks-release.png)" in report and "(benchmarks-runstore.png)" in report
    recorded = json.loads((results / "results.json").read_text())
    assert {f["benchmark"] for f in recorded["figures"]} >= {"runstore", "release", "detection"}


def test_a_benchmark_that_cannot_run_fails_the_suite(tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")
    result = bench("--only", "bus", "--rounds", "1", "--workdir", str(blocked / "work"))
    assert result.returncode == 1
    assert "benchmark failed" in result.stderr


def test_the_by_hand_baseline_refuses_missing_arguments() -> None:
    script = ROOT / "bench" / "baseline_pipeline.sh"
    result = subprocess.run(["bash", str(script)], capture_output=True, text=True, check=False)
    assert result.returncode == 2
    assert "usage:" in result.stderr

"""The release benchmark still runs, at tiny scale: a release tag on 3 services through a
real Shipline with 1, 4 and 8 builder processes, the script over the same services, the
release commit alone and the scaling probe, through to the report's rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bench.test_bench_smoke import bench

pytestmark = pytest.mark.integration  # starts dockerd, a registry and a real Shipline


def test_a_release_of_three_services_is_measured_against_the_script(tmp_path: Path) -> None:
    output = tmp_path / "benchmarks.md"
    result = bench(
        "--only", "release",
        "--rounds", "1",
        "--release-size", "3",
        "--output", str(output),
        "--results", str(tmp_path / "results"),
        "--workdir", str(tmp_path / "work"),
        timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = output.read_text()
    for builders in ("1 builder", "4 builders", "8 builders"):
        assert f"| release | 3 services, tag → run completed, {builders} | " in report
        assert f"↳ until the last image is pushed, {builders}" in report
    assert "| release | release commit of 3 manifest edits, on its own |" in report
    assert "| release scaling | release commit, per service, N=3 |" in report
    assert "sequential script" in report and "3 deploy commits" in report
    assert "![A release tag on 3 services: wall time against builder processes]" in report
    assert (tmp_path / "benchmarks-release.png").read_bytes().startswith(b"\x89PNG")

"""The scan reports kept per run and service, as the scanner writes and the API reads them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.common.scan_reports import ScanReports


def test_both_reports_are_written_under_the_run_and_found_by_format(tmp_path: Path) -> None:
    reports = ScanReports(tmp_path / "reports")

    files = reports.save("run-1", "user-service", {"SchemaVersion": 2}, {"version": "2.1.0"})

    assert files.json == tmp_path / "reports" / "run-1" / "user-service.trivy.json"
    assert files.sarif == tmp_path / "reports" / "run-1" / "user-service.sarif.json"
    assert json.loads(files.json.read_text()) == {"SchemaVersion": 2}
    assert reports.find("run-1", "user-service", "sarif") == files.sarif
    assert files.json.stat().st_mode & 0o044 == 0o044  # readable by the API's user
    assert sorted(p.name for p in files.json.parent.iterdir()) == [
        "user-service.sarif.json",
        "user-service.trivy.json",
    ]


def test_a_second_scan_of_the_service_in_the_run_replaces_its_reports(tmp_path: Path) -> None:
    reports = ScanReports(tmp_path)
    reports.save("run-1", "user-service", {"n": 1}, {"n": 1})

    files = reports.save("run-1", "user-service", {"n": 2}, {"n": 2})

    assert json.loads(files.json.read_text()) == {"n": 2}


def test_a_report_never_written_is_not_found(tmp_path: Path) -> None:
    assert ScanReports(tmp_path).find("run-1", "user-service", "json") is None


@pytest.mark.parametrize(
    ("run_id", "service"),
    [("..", "user-service"), ("run-1", "../../etc"), ("run/1", "svc"), ("run-1", "Svc")],
)
def test_names_that_could_leave_the_reports_folder_are_refused(
    tmp_path: Path, run_id: str, service: str
) -> None:
    with pytest.raises(ValueError):
        ScanReports(tmp_path).files(run_id, service)

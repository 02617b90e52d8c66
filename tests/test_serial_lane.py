"""`make test-parallel` runs the modules of SERIAL_MODULES alone, after the parallel workers
(tests/lanes.py): the `serial` mark they get, and nothing else gets."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.lanes import SERIAL_MODULES

REPO = Path(__file__).resolve().parents[1]
SERIAL_MODULE = "tests/deploy/test_worker_heartbeat.py"
OTHER_MODULE = "tests/test_cli_validate.py"


def collected(mark: str) -> list[str]:
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"]
        + ["-m", mark, SERIAL_MODULE, OTHER_MODULE],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return [line for line in completed.stdout.splitlines() if "::" in line]


def test_every_serial_module_exists_so_none_runs_in_parallel_under_a_stale_name() -> None:
    missing = [module for module in SERIAL_MODULES if not (REPO / module).is_file()]
    assert missing == []
    assert SERIAL_MODULE in SERIAL_MODULES and OTHER_MODULE not in SERIAL_MODULES


def test_the_serial_mark_selects_exactly_the_tests_of_the_serial_modules() -> None:
    serial, parallel = collected("serial"), collected("not serial")

    assert serial and all(test.startswith(f"{SERIAL_MODULE}::") for test in serial)
    assert parallel and all(test.startswith(f"{OTHER_MODULE}::") for test in parallel)

"""`make unit` (pytest --unit): the tests that need no external component, and a unit test
that reaches one anyway fails at once naming it (tests/lanes.py)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from tests.lanes import COMPONENT_FIXTURES, component_address, component_program

REPO = Path(__file__).resolve().parents[1]
# One module holds a pure test, a test marked by hand and one the fixture rule marks
MIXED = "tests/devenv/test_redis_server.py"


def pytest_run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


SPLIT_PLUGIN = """
import json, os

DESELECTED = []

def pytest_deselected(items):
    DESELECTED.extend(item.name for item in items)

def pytest_collection_finish(session):
    with open(os.environ["SPLIT_FILE"], "w") as split:
        json.dump({"unit": [item.name for item in session.items], "integration": DESELECTED}, split)
"""


def test_the_unit_lane_leaves_out_tests_marked_by_hand_or_by_a_component_fixture(
    tmp_path: Path,
) -> None:
    (tmp_path / "split_plugin.py").write_text(SPLIT_PLUGIN)
    split_file = tmp_path / "split.json"
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "SPLIT_FILE": str(split_file)}

    modules = [MIXED, "tests/test_cli_validate.py"]
    result = pytest_run(
        "--collect-only", "-p", "split_plugin", "-m", "not integration", *modules, env=env
    )

    assert result.returncode == 0, result.stdout + result.stderr
    split = json.loads(split_file.read_text())
    unit, integration = set(split["unit"]), set(split["integration"])
    assert "test_a_weak_password_is_refused" in unit
    assert "test_every_server_generates_its_own_password" in unit
    assert "test_a_tcp_server_refuses_a_client_without_the_password" in integration  # by hand
    assert "test_a_given_binary_is_the_one_started" in integration  # redis_6_2_binary
    assert "test_a_valid_shipline_yaml_is_one_ok_line_and_exit_0" in integration  # its module


def test_a_unit_test_reaching_a_component_fails_naming_it(tmp_path: Path) -> None:
    (tmp_path / "test_reaching.py").write_text(
        "import socket, subprocess\n"
        "import pytest\n\n"
        "@pytest.fixture\n"
        "def redis_url():\n"
        "    return 'redis://127.0.0.1:6379/0'\n\n"
        "def test_starting_redis():\n"
        "    subprocess.run(['redis-server', '--port', '0'], timeout=5)\n\n"
        "def test_connecting_to_redis():\n"
        "    socket.create_connection(('127.0.0.1', 6379), timeout=5)\n\n"
        "def test_asking_for_a_component_fixture_late(request):\n"
        "    request.getfixturevalue('redis_url')\n\n"
        "def test_asking_git_for_its_version():\n"
        "    subprocess.run(['git', 'version'], capture_output=True, check=True)\n"
    )

    result = pytest_run(
        "--unit",
        "-p",
        "tests.lanes",
        "--rootdir",
        str(tmp_path),
        str(tmp_path / "test_reaching.py"),
    )

    out = result.stdout
    assert re.search(r"3 failed, 1 passed", out), out
    assert "test_starting_redis reached Redis (started ['redis-server'" in out
    assert "test_connecting_to_redis reached Redis (connected to ('127.0.0.1', 6379))" in out
    assert "test_asking_for_a_component_fixture_late reached Redis (fixture redis_url)" in out


def test_component_programs_and_addresses_are_told_from_everything_else() -> None:
    assert component_program(None, ["/usr/bin/redis-server", "--port", "0"]) == "Redis"
    assert component_program(b"/usr/bin/git", [b"git", b"clone", b"x"]) == "git"
    assert component_program(None, ["git", "version"]) is None
    assert component_program(None, [sys.executable, "-m", "services.cli", "up"])
    assert component_program(None, [sys.executable, "-c", "print(1)"]) is None
    assert component_address(("127.0.0.1", 6379)) == "Redis"
    assert component_address("/var/run/docker.sock") == "dockerd"
    assert component_address(("127.0.0.1", 43117)) is None


def test_every_component_fixture_is_defined_in_the_tests() -> None:
    sources = "\n".join(path.read_text() for path in (REPO / "tests").rglob("*.py"))
    defined = set(re.findall(r"^def (\w+)\(", sources, re.M))

    assert set(COMPONENT_FIXTURES) - defined == set(), "renamed? update tests/lanes.py"

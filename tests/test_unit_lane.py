"""`make unit` (pytest --unit): the tests that need no external component, and a unit test
that reaches one anyway fails at once naming it (tests/lanes.py)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.lanes import COMPONENT_FIXTURES, component_address, component_program

REPO = Path(__file__).resolve().parents[1]
# A module with pure tests, tests marked by hand and one the fixture rule marks; and a module
# marked as a whole
MIXED = "tests/devenv/test_redis_server.py"
WHOLE = "tests/test_cli_validate.py"

SPLIT_PLUGIN = """
import json, os

DESELECTED = []

def pytest_deselected(items):
    DESELECTED.extend(item.name for item in items)

def pytest_collection_finish(session):
    with open(os.environ["SPLIT_FILE"], "w") as split:
        json.dump({"unit": [item.name for item in session.items], "integration": DESELECTED}, split)
"""

REACHING = """
import socket, subprocess, sys
import pytest

@pytest.fixture
def redis_url():
    return "redis://127.0.0.1:6379/0"

def test_starting_redis():
    subprocess.run(["redis-server", "--port", "0"], timeout=5)

def test_connecting_to_redis():
    socket.create_connection(("127.0.0.1", 6379), timeout=5)

def test_asking_for_a_component_fixture_late(request):
    request.getfixturevalue("redis_url")

def test_starting_python():
    subprocess.run([sys.executable, "-c", "pass"], check=True)
"""


class UnitRun:
    def __init__(self, result: subprocess.CompletedProcess[str], split: dict[str, list[str]]):
        self.output = result.stdout + result.stderr
        self.unit, self.integration = set(split["unit"]), set(split["integration"])


@pytest.fixture(scope="module")
def unit_run(tmp_path_factory: pytest.TempPathFactory) -> UnitRun:
    """`pytest --unit` on two of the suite's modules and on four tests that reach Redis."""
    root = tmp_path_factory.mktemp("unit-lane")
    (root / "split_plugin.py").write_text(SPLIT_PLUGIN)
    (root / "test_reaching.py").write_text(REACHING)
    split_file = root / "split.json"
    env = {**os.environ, "PYTHONPATH": str(root), "SPLIT_FILE": str(split_file)}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "split_plugin", "--unit"]
        + [f"-pno:{plugin}" for plugin in ("cacheprovider", "schemathesis", "hypothesispytest")]
        + [MIXED, WHOLE, str(root / "test_reaching.py")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert split_file.exists(), result.stdout + result.stderr
    return UnitRun(result, json.loads(split_file.read_text()))


def test_the_unit_lane_leaves_out_tests_marked_by_hand_or_by_a_component_fixture(
    unit_run: UnitRun,
) -> None:
    assert "test_a_weak_password_is_refused" in unit_run.unit
    assert "test_every_server_generates_its_own_password" in unit_run.unit
    assert "test_a_tcp_server_refuses_a_client_without_the_password" in unit_run.integration
    assert "test_a_given_binary_is_the_one_started" in unit_run.integration  # redis_6_2_binary
    assert "test_a_valid_shipline_yaml_is_one_ok_line_and_exit_0" in unit_run.integration


def test_a_unit_test_reaching_a_component_fails_naming_it(unit_run: UnitRun) -> None:
    out = unit_run.output
    assert re.search(r"\b3 failed, \d+ passed", out), out
    assert "test_starting_redis reached Redis (started ['redis-server'" in out
    assert "test_connecting_to_redis reached Redis (connected to ('127.0.0.1', 6379))" in out
    assert "test_asking_for_a_component_fixture_late reached Redis (fixture redis_url)" in out
    assert "FAILED " not in out.replace("FAILED ", "", 3), out  # the suite's unit tests pass


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

"""On a failed test, what every Python process the test started was doing (py-spy).

A stage that hangs shows in a test only as a timeout ("the run did not finish"); the
stacks of the workers, taken before the fixtures stop them, say where it waits. Added as a
section of the failure's report, so a CI log carries it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

PER_PROCESS_CHARS = 6000
SPY_SECONDS = 15


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])  # the name may hold spaces
        tree.setdefault(parent, []).append(int(entry.name))
    return tree


def descendants(root: int) -> list[int]:
    tree, found, stack = _children(), [], [root]
    while stack:
        for child in tree.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return sorted(found)


def _is_python(pid: int) -> bool:
    try:
        return "python" in os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return False


def python_stacks(root: int) -> Iterator[str]:
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    for pid in filter(_is_python, descendants(root)):
        try:
            done = subprocess.run(
                [spy, "dump", "--pid", str(pid)],
                capture_output=True,
                text=True,
                timeout=SPY_SECONDS,
            )
            text = done.stdout or done.stderr
        except (OSError, subprocess.TimeoutExpired) as exc:
            text = f"py-spy failed on {pid}: {exc}"
        yield text[:PER_PROCESS_CHARS]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    failed = call.when == "call" and report.failed
    if failed and (stacks := "\n".join(python_stacks(os.getpid()))):
        report.sections.append(("python stacks of the test's processes", stacks))
    return report

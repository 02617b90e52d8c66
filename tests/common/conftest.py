"""Fixtures of the settings tests: `pytestmark = pytest.mark.usefixtures(...)` names them."""

from __future__ import annotations

import os

import pytest


@pytest.fixture
def no_shipline_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test sees only the SHIPLINE_* variables it sets itself."""
    for name in list(os.environ):
        if name.startswith("SHIPLINE_"):
            monkeypatch.delenv(name)

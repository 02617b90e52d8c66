"""The providers' real webhook payloads: $SHIPLINE_FIXTURES/webhooks, else tests/fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

BUNDLED = Path(__file__).resolve().parents[1] / "fixtures" / "webhooks"


def payload(host: str, name: str) -> bytes:
    roots = (
        [Path(os.environ["SHIPLINE_FIXTURES"]) / "webhooks"]
        if "SHIPLINE_FIXTURES" in os.environ
        else []
    )
    for root in [*roots, BUNDLED]:
        path = root / host / name
        if path.is_file():
            return path.read_bytes()
    pytest.fail(f"webhook fixture {host}/{name} not found under {roots + [BUNDLED]}", pytrace=False)

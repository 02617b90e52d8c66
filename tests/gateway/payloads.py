"""The providers' real webhook payloads: $SHIPLINE_FIXTURES/webhooks, else tests/fixtures."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from services.gateway.webhook import WebhookRejected

BUNDLED = Path(__file__).resolve().parents[1] / "fixtures" / "webhooks"


def _roots() -> list[Path]:
    if "SHIPLINE_FIXTURES" in os.environ:
        return [Path(os.environ["SHIPLINE_FIXTURES"]) / "webhooks", BUNDLED]
    return [BUNDLED]


def folder(host: str) -> Path:
    """The first folder holding the host's payloads."""
    roots = _roots()
    for root in roots:
        if (root / host).is_dir():
            return root / host
    pytest.fail(f"webhook fixtures of {host} not found under {roots}", pytrace=False)


def payload(host: str, name: str) -> bytes:
    roots = _roots()
    for root in roots:
        path = root / host / name
        if path.is_file():
            return path.read_bytes()
    pytest.fail(f"webhook fixture {host}/{name} not found under {roots}", pytrace=False)


def edited(host: str, name: str, **changes: Any) -> bytes:
    """A payload with some of its top-level fields replaced."""
    return json.dumps({**json.loads(payload(host, name)), **changes}).encode()


def rejection(
    parse_push: Callable[..., object], body: bytes, headers: dict[str, str]
) -> WebhookRejected:
    """What ``parse_push`` rejects ``body`` with."""
    with pytest.raises(WebhookRejected) as caught:
        parse_push(body, headers, run_id="run-1")
    return caught.value

"""The console log format (a developer's terminal) shows a failure's traceback without the
values of its local variables, where credentials sit. It holds because the traceback is
rendered as plain text (format_exc_info) before the console renderer, whose own (rich)
traceback would list every frame's locals."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
import structlog

from services.common.logging import configure_logging, get_logger

CREDENTIAL = "console-leak-check-5f1e9a"  # noqa: S105 - a marker, not a real credential


@pytest.fixture
def console() -> Iterator[io.StringIO]:
    output = io.StringIO()
    configure_logging("console")
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(output))
    yield output
    configure_logging("json")


def _log_in_into_the_registry(password: str) -> None:
    raise PermissionError("the registry refused the login")


def test_a_traceback_in_the_console_format_names_no_local_values(console: io.StringIO) -> None:
    try:
        _log_in_into_the_registry(CREDENTIAL)
    except PermissionError:
        get_logger().exception("push failed")

    written = console.getvalue()
    assert "the registry refused the login" in written
    assert "_log_in_into_the_registry" in written
    assert CREDENTIAL not in written

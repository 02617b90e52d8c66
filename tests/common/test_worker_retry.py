"""A retry never waits, unacknowledged in the worker, for longer than Redis waits before
handing the message out again (which would copy it, and each copy again)."""

from __future__ import annotations

import pytest

from services.common.worker import retry_countdown


@pytest.mark.parametrize(
    ("wanted", "visibility_timeout", "expected"),
    [(5.0, 900, 5.0), (65.0, 900, 65.0), (7.5, 5, 2.5), (60.0, 30, 15.0)],
)
def test_a_retry_waits_at_most_half_the_visibility_timeout(
    wanted: float, visibility_timeout: int, expected: float
) -> None:
    assert retry_countdown(wanted, visibility_timeout) == expected

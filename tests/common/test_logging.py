"""Credentials inside URLs never reach a log line, whatever field or traceback holds them."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest
import structlog

from services.common.logging import configure_logging, get_logger, redact_url_credentials

PASSWORD = "url-leak-check-7Hq2Zx"  # noqa: S105 - a marker, not a real credential


@pytest.fixture
def output() -> Iterator[io.StringIO]:
    written = io.StringIO()
    configure_logging("json")
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(written))
    yield written
    configure_logging("json")


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        (f"redis://:{PASSWORD}@127.0.0.1:6379/0", "redis://***@127.0.0.1:6379/0"),
        (f"rediss://shipline:{PASSWORD}@redis:6380/1", "rediss://***@redis:6380/1"),
        (f"unix://:{PASSWORD}@/run/redis.sock?db=0", "unix://***@/run/redis.sock?db=0"),
        (f"unix:///run/redis.sock?db=0&password={PASSWORD}", "unix:///run/redis.sock?db=0&password=***"),
        (f"redis+socket://:{PASSWORD}@/run/r.sock?virtual_host=0", "redis+socket://***@/run/r.sock?virtual_host=0"),
        (f"https://x-access-token:{PASSWORD}@github.com/a/b.git", "https://***@github.com/a/b.git"),
    ],
)  # fmt: skip
def test_a_urls_credentials_are_replaced(text: str, redacted: str) -> None:
    assert redact_url_credentials(text) == redacted


def test_text_without_credentials_is_left_alone() -> None:
    text = "mail shipline-bot@localhost; fetch https://host/x?a=b@c and redis://redis:6379/0"

    assert redact_url_credentials(text) == text


def test_a_redis_url_in_a_message_or_a_field_is_not_logged(output: io.StringIO) -> None:
    url = f"redis://:{PASSWORD}@127.0.0.1:6379/0"

    get_logger(broker=url).warning(f"cannot reach {url}", detail=f"while connecting to {url}")

    line = json.loads(output.getvalue())
    assert PASSWORD not in output.getvalue()
    assert line["broker"] == "redis://***@127.0.0.1:6379/0"
    assert line["event"] == "cannot reach redis://***@127.0.0.1:6379/0"


def test_a_redis_url_in_a_traceback_is_not_logged(output: io.StringIO) -> None:
    try:
        raise ConnectionError(f"Error connecting to unix://:{PASSWORD}@/run/redis.sock")
    except ConnectionError:
        get_logger().exception("worker stopped")

    assert "Error connecting to unix://***@/run/redis.sock" in output.getvalue()
    assert PASSWORD not in output.getvalue()


def test_a_logger_follows_a_reconfigured_output_and_level() -> None:
    first, second = io.StringIO(), io.StringIO()
    try:
        configure_logging("json")
        structlog.configure(logger_factory=structlog.PrintLoggerFactory(first))
        get_logger(run_id="r1").info("to the first")
        structlog.configure(logger_factory=structlog.PrintLoggerFactory(second))
        get_logger(run_id="r2").info("to the second")
        configure_logging("json", "WARNING")
        structlog.configure(logger_factory=structlog.PrintLoggerFactory(second))
        get_logger().info("filtered out")
    finally:
        configure_logging("json")

    assert [json.loads(line)["event"] for line in first.getvalue().splitlines()] == ["to the first"]
    assert json.loads(second.getvalue())["run_id"] == "r2"
    assert "filtered out" not in second.getvalue()

"""Structured logs: JSON when not on a TTY, run_id/service/stage bound per event."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from functools import lru_cache
from typing import Any

import structlog

SECRET_KEYS = ("password", "secret", "token", "authorization")
# user:password@ (or a token as the user) in any URL, and a password in a URL's query
# (unix://...?password=, sentinel://...&sentinel_password=): Redis and git URLs carry
# credentials this way.
_URL_USERINFO = re.compile(r"(?<=://)[^/?#@\s]+@")
_QUERY_PASSWORD = re.compile(r"(?<=password=)[^&#\s]+")


@lru_cache(maxsize=1024)
def _names_a_secret(key: str) -> bool:
    lowered = key.lower()
    return any(word in lowered for word in SECRET_KEYS)


def _redact(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in event_dict:
        if _names_a_secret(key):
            event_dict[key] = "***"
    return event_dict


def redact_url_credentials(text: str) -> str:
    """The text with every URL's credentials replaced by ``***``."""
    if "@" in text:
        text = _URL_USERINFO.sub("***@", text)
    if "password=" in text:
        text = _QUERY_PASSWORD.sub("***", text)
    return text


def _redact_urls(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in event_dict.items():
        if isinstance(value, str):
            event_dict[key] = redact_url_credentials(value)
    return event_dict


def configure_logging(fmt: str = "auto", level: str = "INFO") -> None:
    json_output = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer() if json_output else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _redact,
            structlog.processors.format_exc_info,
            _redact_urls,  # after format_exc_info: a traceback's messages are text by then
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )


def get_logger(**bound: Any) -> Any:
    return structlog.get_logger("shipline").bind(**bound)


bound_context = structlog.contextvars.bound_contextvars

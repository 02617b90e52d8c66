"""Structured logs: JSON when not on a TTY, run_id/service/stage bound per event."""

from __future__ import annotations

import json
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


def redact_url_credentials(text: str) -> str:
    """The text with every URL's credentials replaced by ``***``."""
    if "@" in text:
        text = _URL_USERINFO.sub("***@", text)
    if "password=" in text:
        text = _QUERY_PASSWORD.sub("***", text)
    return text


def _redact(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """A field named like a secret becomes ``***``; credentials in any text field's URLs are
    replaced (after format_exc_info: a traceback's messages are text by then)."""
    for key, value in event_dict.items():
        if _names_a_secret(key):
            event_dict[key] = "***"
        elif isinstance(value, str) and ("@" in value or "password=" in value):
            event_dict[key] = redact_url_credentials(value)
    return event_dict


def _fallback(value: Any) -> Any:
    """A value JSON has no form for, as structlog's JSONRenderer would write it."""
    try:
        return value.__structlog__()
    except AttributeError:
        return repr(value)


# json.dumps(..., default=...) builds an encoder for every line; this one is built once.
_ENCODER = json.JSONEncoder(default=_fallback)


def _json_line(event_dict: Any, **_: Any) -> str:
    return _ENCODER.encode(event_dict)


def configure_logging(fmt: str = "auto", level: str = "INFO") -> None:
    json_output = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=_json_line)
        if json_output
        else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _redact,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.WriteLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )


def get_logger(**bound: Any) -> Any:
    return _assembled().bind(**bound)


_ASSEMBLED: list[tuple[tuple[object, ...], Any]] = []  # (the configuration, its logger)


def _assembled() -> Any:
    """The logger structlog's current configuration assembles, built once per configuration.

    structlog's lazy proxy assembles a new logger (output, processors, wrapper) for every
    `get_logger(...)` call, which cost more than rendering the line. The configuration's
    own objects are kept with the logger and compared by identity, so a reconfiguration
    (another output, level or format) is seen at the next call."""
    config = structlog.get_config()
    parts = (
        config["processors"],
        config["logger_factory"],
        config["wrapper_class"],
        config["context_class"],
    )
    if _ASSEMBLED and all(a is b for a, b in zip(_ASSEMBLED[0][0], parts, strict=True)):
        return _ASSEMBLED[0][1]
    logger = structlog.get_logger("shipline").bind()
    _ASSEMBLED[:] = [(parts, logger)]
    return logger


bound_context = structlog.contextvars.bound_contextvars

"""One error format for every response the API refuses or fails.

    {"detail": "<reason>", "error": {"status": 422, "reason": "<reason>", "details": [...]}}

`error` is the format; the top-level `detail` string repeats the reason for clients written
against FastAPI's default (`details` appears only for validation errors, one entry per field).
An unexpected exception becomes a 500 that names nothing of the server's internals.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from services.common.bus import BROKER_ERRORS
from services.common.logging import get_logger

INTERNAL_REASON = "internal error; the server log has the details"
UNAVAILABLE_REASON = "Redis (the event bus and run store) is unavailable; retry later"


def error_response(
    status: int,
    reason: str,
    details: list[dict[str, str]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    error: dict[str, Any] = {"status": status, "reason": reason}
    if details:
        error["details"] = details
    return JSONResponse({"detail": reason, "error": error}, status, headers=headers)


async def http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    reason = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    return error_response(exc.status_code, reason, headers=exc.headers)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = [
        {"field": ".".join(str(part) for part in error["loc"]), "reason": error["msg"]}
        for error in exc.errors()
    ]
    reason = "; ".join(f"{d['field']}: {d['reason']}" for d in details) or "invalid request"
    return error_response(422, reason, details)


async def redis_unavailable(request: Request, exc: Exception) -> JSONResponse:
    get_logger().warning("Redis unavailable", path=request.url.path, error_class=type(exc).__name__)
    return error_response(503, UNAVAILABLE_REASON, headers={"Retry-After": "5"})


async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    get_logger().error(
        "unhandled error",
        path=request.url.path,
        error_class=type(exc).__name__,
        exc_info=exc,
    )
    return error_response(500, INTERNAL_REASON)


def install(app: FastAPI) -> None:
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    for broker_error in BROKER_ERRORS:  # Redis down: the client should retry, not give up
        app.add_exception_handler(broker_error, redis_unavailable)
    app.add_exception_handler(Exception, unexpected_error)

"""Response bodies several routes share: the error format (errors.py writes it) and the
answer of a request that starts a run."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class FieldError(BaseModel):
    field: str = Field(description="where, e.g. query.limit or body.services")
    reason: str


class ErrorDetail(BaseModel):
    status: int
    reason: str
    details: list[FieldError] | None = Field(
        default=None, description="validation errors only (422): one entry per field"
    )


class ApiError(BaseModel):
    """Every refusal and failure: `error`, and `detail` repeating its reason."""

    detail: str = Field(description="the reason, as FastAPI's default error would give it")
    error: ErrorDetail


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": {
        "model": ApiError,
        "description": "Refused, with the reason: 401 no or an invalid token, 403 a scope "
        "missing, 404, 409, 413 a body too large, 422 naming each field, 429 too many streams",
    },
    "5XX": {
        "model": ApiError,
        "description": "503 (Retry-After) while Redis is unavailable; 500 names no internals",
    },
}


class RunStarted(BaseModel):
    run_id: str


class DuplicateRun(BaseModel):
    """The request was already taken (the same delivery or Idempotency-Key): its run."""

    run_id: str
    duplicate: Literal[True] = True

"""Request-scoped dependencies: the runtime the app was built with, and a bounded body."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from fastapi import Depends, HTTPException, Request
from pydantic import BaseModel, ValidationError

from services.common.runtime import Runtime
from services.common.validation_messages import explain_validation
from services.gateway.intake import Intake
from services.gateway.json_body import InvalidJson, decode_json

M = TypeVar("M", bound=BaseModel)


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_intake(request: Request) -> Intake:
    intake: Intake = request.app.state.intake
    return intake


IntakeDep = Annotated[Intake, Depends(get_intake)]


async def limited_body(request: Request, runtime: RuntimeDep) -> bytes:
    return await read_body(request, runtime.settings.max_body_bytes)


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refused with 413 once it exceeds `limit` bytes (declared or streamed)."""
    declared = request.headers.get("content-length")
    if declared and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"body larger than {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


BodyDep = Annotated[bytes, Depends(limited_body)]


def parse_body(model: type[M], body: bytes) -> M:
    """A request body as `model`: 400 when not JSON (or nested too deep), 422 naming each
    field that is wrong."""
    try:
        data: Any = decode_json(body)
    except InvalidJson as exc:
        raise HTTPException(400, exc.reason) from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise HTTPException(422, explain_validation(exc)) from None

"""Webhook receivers: verify, parse, dedupe the delivery, create the run, queue the push."""

from __future__ import annotations

import contextlib
import secrets
from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse

from services.common.bus import BROKER_ERRORS
from services.common.logging import get_logger
from services.detector.detect import parse_ref
from services.gateway.deps import BodyDep, RuntimeDep
from services.gateway.github import WebhookRejected, parse_push, verified_repositories

router = APIRouter(prefix="/webhooks", tags=["webhooks"])
DELIVERY_TTL = 7 * 24 * 3600


def new_run_id() -> str:
    return f"{datetime.now(UTC):%Y%m%d%H%M%S}-{secrets.token_hex(4)}"


@router.post("/github", status_code=202)
def github(request: Request, body: BodyDep, runtime: RuntimeDep) -> JSONResponse:
    matched = verified_repositories(
        runtime.settings.repositories, body, request.headers.get("x-hub-signature-256")
    )
    if not matched:
        raise HTTPException(401, "missing or invalid X-Hub-Signature-256")
    kind = request.headers.get("x-github-event", "")
    if kind == "ping":
        return JSONResponse({"pong": True}, status_code=200)
    if kind != "push":
        return JSONResponse({"ignored": f"event {kind or '(none)'} is not handled"}, 202)
    run_id = new_run_id()
    try:
        push = parse_push(body, request.headers, run_id)
    except WebhookRejected as exc:
        raise HTTPException(exc.status, exc.reason) from None
    repo = next((r for r in matched if r.name == push.repository), None)
    if repo is None:
        raise HTTPException(403, f"repository {push.repository} is not signed by its own secret")
    kind_of_ref, name = parse_ref(push.ref)
    if kind_of_ref == "branch" and not repo.accepts_branch(name):
        return JSONResponse({"ignored": f"branch {name} is not configured"}, 202)
    redis = runtime.redis
    delivery_key = f"shipline:delivery:github:{push.delivery_id}"
    try:
        existing = redis.set(delivery_key, run_id, nx=True, ex=DELIVERY_TTL, get=True)
        if existing is not None:
            first_run = existing.decode() if isinstance(existing, bytes) else str(existing)
            return JSONResponse({"run_id": first_run, "duplicate": True}, 200)
        runtime.runs.create(
            run_id,
            trigger="tag" if kind_of_ref == "tag" else "push",
            provider="github",
            repository=push.repository,
            ref=push.ref,
            commit=push.after,
            pusher=push.pusher,
            delivery_id=push.delivery_id,
        )
        runtime.bus.publish(push)
    except BROKER_ERRORS:
        _forget_delivery(runtime, delivery_key)
        raise HTTPException(503, "the event bus is unavailable; retry later") from None
    get_logger(run_id=run_id).info("push accepted", repository=push.repository, ref=push.ref)
    return JSONResponse({"run_id": run_id}, 202)


def _forget_delivery(runtime: RuntimeDep, key: str) -> None:
    with contextlib.suppress(Exception):  # Redis is down: the marker expires or was never set
        runtime.redis.delete(key)

"""Webhook receivers, one per git host, one flow: verify, parse, filter, start the run.

The routes here document the endpoints in the OpenAPI schema; the gateway hands requests
to `receive` itself, before FastAPI's middleware and router (services/gateway/fast_path.py).
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse

from services.common.image_tags import parse_ref
from services.common.runtime import Runtime
from services.gateway import gitea, github, gitlab
from services.gateway.deps import BodyDep, IntakeDep, RuntimeDep
from services.gateway.intake import Intake, delivery_key, new_run_id
from services.gateway.webhook import GitHost, WebhookRefused, WebhookRejected

router = APIRouter(prefix="/webhooks", tags=["webhooks"])
HOSTS = {
    f"{router.prefix}/{host.provider}": host for host in (github.HOST, gitlab.HOST, gitea.HOST)
}


@router.post("/github", status_code=202)
async def github_push(
    request: Request, body: BodyDep, runtime: RuntimeDep, intake: IntakeDep
) -> JSONResponse:
    return await receive(github.HOST, request.headers, body, runtime, intake)


@router.post("/gitlab", status_code=202)
async def gitlab_push(
    request: Request, body: BodyDep, runtime: RuntimeDep, intake: IntakeDep
) -> JSONResponse:
    return await receive(gitlab.HOST, request.headers, body, runtime, intake)


@router.post("/gitea", status_code=202)
async def gitea_push(
    request: Request, body: BodyDep, runtime: RuntimeDep, intake: IntakeDep
) -> JSONResponse:
    return await receive(gitea.HOST, request.headers, body, runtime, intake)


async def receive(
    host: GitHost, headers: Mapping[str, str], body: bytes, runtime: Runtime, intake: Intake
) -> JSONResponse:
    matched = host.verified(runtime.settings.repositories, body, headers)
    if not matched:
        raise WebhookRefused(401, f"missing or invalid {host.signature_header}")
    kind, name = host.kind(headers)
    if kind == "ping":
        return JSONResponse({"pong": True}, status_code=200)
    if kind != "push":
        return JSONResponse({"ignored": f"event {name or '(none)'} is not handled"}, 202)
    run_id = new_run_id()
    try:
        push = host.parse(body, headers, run_id)
    except WebhookRejected as exc:
        raise HTTPException(exc.status, exc.reason) from None
    repo = next((r for r in matched if r.name == push.repository), None)
    if repo is None:
        raise WebhookRefused(
            403, f"repository {push.repository} does not use this secret", push.repository
        )
    kind_of_ref, ref_name = parse_ref(push.ref)
    if kind_of_ref == "branch" and not repo.accepts_branch(ref_name):
        return JSONResponse({"ignored": f"branch {ref_name} is not configured to deploy"}, 202)
    started = await intake.start_run(
        push,
        delivery_key(host.provider, push.delivery_id),
        "tag" if kind_of_ref == "tag" else "push",
        replayable=True,  # the same push under a new delivery id starts nothing new
        provider=host.provider,
        repository=push.repository,
        ref=push.ref,
        commit=push.after,
        pusher=push.pusher,
        delivery_id=push.delivery_id,
    )
    if started.duplicate:
        return JSONResponse({"run_id": started.run_id, "duplicate": True}, 200)
    return JSONResponse({"run_id": run_id}, 202)

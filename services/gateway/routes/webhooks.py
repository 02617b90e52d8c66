"""Webhook receivers, one per git host, one flow: verify, parse, filter, start the run.

The routes here document the endpoints in the OpenAPI schema; the gateway hands requests
to `receive` itself, before FastAPI's middleware and router (services/gateway/fast_path.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from services.common.image_tags import parse_ref
from services.common.runtime import Runtime
from services.gateway import gitea, github, gitlab, pull_request_webhook
from services.gateway.api_models import DuplicateRun, RunStarted
from services.gateway.deps import BodyDep, IntakeDep, RuntimeDep
from services.gateway.intake import Intake, new_run_id
from services.gateway.webhook import GitHost, WebhookRefused, WebhookRejected

router = APIRouter(prefix="/webhooks", tags=["webhooks"])
HOSTS = {
    f"{router.prefix}/{host.provider}": host for host in (github.HOST, gitlab.HOST, gitea.HOST)
}


class Pong(BaseModel):
    """The answer to the host's test delivery (a ping)."""

    pong: Literal[True] = True


class Ignored(BaseModel):
    """A verified delivery that starts nothing."""

    ignored: str = Field(description="why: an event other than a push, or a branch not deployed")


ANSWERED = RunStarted | Ignored | pull_request_webhook.PullRequestAnswered  # 202
ALREADY_ANSWERED: dict[int | str, dict[str, Any]] = {
    200: {"model": DuplicateRun | Pong, "description": "a redelivered push (its run), or a ping"}
}


def push_answers(what: str, auth: str, delivery_id: str) -> str:
    """A push webhook's OpenAPI description: what it takes, what it answers, its delivery id."""
    return (
        f"{what}\n\n"
        '`202 {"run_id"}` for a push; `202 {"run_id", "merged"}` for a pull request closing '
        "a promotion's pull request (GitHub's and Gitea's `pull_request`, GitLab's `Merge "
        "Request Hook`; docs/environments.md); "
        '`200 {"pong": true}` for a ping; `202 {"ignored": ...}` '
        "for other events and branches not configured to deploy; "
        '`200 {"run_id", "duplicate": true}` for a redelivered delivery id, or for the same '
        "update of a ref (`before`, `after`) as its last one, replayed under a new delivery id "
        "within `limits.replay_window_seconds` (1 hour): the run that push started (once the "
        "ref has moved elsewhere, the same update again is a real push and deploys). "
        f"`401` a bad or missing {auth}; `400` malformed JSON; `403` a repository not signed "
        "with its own secret; `413` a body too large; `422` not a valid push; `503` Redis "
        f"unreachable (retry later).\n\nDelivery id: {delivery_id}"
    )


@router.post(
    "/github",
    status_code=202,
    response_model=ANSWERED,
    responses=ALREADY_ANSWERED,
    description=push_answers(
        "A GitHub push (`X-GitHub-Event: push`), signed by `X-Hub-Signature-256`.",
        "signature",
        "`X-GitHub-Delivery`.",
    ),
)
async def github_push(
    request: Request, body: BodyDep, runtime: RuntimeDep, intake: IntakeDep
) -> JSONResponse:
    return await receive(github.HOST, request.headers, body, runtime, intake)


@router.post(
    "/gitlab",
    status_code=202,
    response_model=ANSWERED,
    responses=ALREADY_ANSWERED,
    description=push_answers(
        "A GitLab push (`X-Gitlab-Event: Push Hook` or `Tag Push Hook`), authenticated by "
        "`X-Gitlab-Token` (the secret, compared in constant time).",
        "token",
        "`Idempotency-Key`, else `X-Gitlab-Event-UUID`, else one derived from the "
        "repository, ref, `before` and `after`.",
    ),
)
async def gitlab_push(
    request: Request, body: BodyDep, runtime: RuntimeDep, intake: IntakeDep
) -> JSONResponse:
    return await receive(gitlab.HOST, request.headers, body, runtime, intake)


@router.post(
    "/gitea",
    status_code=202,
    response_model=ANSWERED,
    responses=ALREADY_ANSWERED,
    description=push_answers(
        "A Gitea push (`X-Gitea-Event: push`), signed by `X-Gitea-Signature` (hex "
        "HMAC-SHA256 of the body).",
        "signature",
        "`X-Gitea-Delivery`.",
    ),
)
async def gitea_push(
    request: Request, body: BodyDep, runtime: RuntimeDep, intake: IntakeDep
) -> JSONResponse:
    return await receive(gitea.HOST, request.headers, body, runtime, intake)


async def receive(
    host: GitHost, headers: Mapping[str, str], body: bytes, runtime: Runtime, intake: Intake
) -> JSONResponse:
    if pull_request_webhook.is_pull_request_event(host.provider, headers):
        return await pull_request_webhook.receive_pull_request(host, headers, body, runtime)
    matched = host.verified(runtime.settings.repositories, body, headers)
    if not matched:
        raise WebhookRefused(401, f"missing or invalid {host.signature_header}")
    kind, name = host.kind(headers)
    if kind == "ping":
        return JSONResponse(Pong().model_dump(), 200)
    if kind != "push":
        return _ignored(f"event {name or '(none)'} is not handled")
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
        return _ignored(f"branch {ref_name} is not configured to deploy")
    started = await intake.start_run(
        push,
        (host.provider, push.delivery_id),
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
        return JSONResponse(DuplicateRun(run_id=started.run_id).model_dump(), 200)
    return JSONResponse(RunStarted(run_id=run_id).model_dump(), 202)


def _ignored(why: str) -> JSONResponse:
    return JSONResponse(Ignored(ignored=why).model_dump(), 202)

"""GitHub `pull_request` webhooks: a promotion's pull request merged or closed.

Verified like pushes, before a byte of the body is read: X-Hub-Signature-256 with the
webhook secret of a configured repository (manifests in the source repository) or of a
gitops repository entry that has one, and the payload's repository must be the one whose
secret signed it. Only `closed` matters, and only for a pull request a promotion waits on
(services/common/promotion_pulls.py): the gateway then queues a PullRequestClosed for the
committer in that promotion's run. GitHub only for now: GitLab's and Gitea's merge-request
hooks are not read yet (their requests are still re-read from the host; see
services/reconciler/promotion_pulls.py).
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from starlette.concurrency import run_in_threadpool

from services.common.logging import get_logger
from services.common.promotion_pulls import PromotionPulls, closed_event
from services.common.runtime import Runtime
from services.common.settings import Settings
from services.gateway.github import signature_matches
from services.gateway.webhook import WebhookRefused, WebhookRejected, load

EVENT = "pull_request"


class _Ref(BaseModel):
    model_config = ConfigDict(extra="ignore")
    ref: str = Field(min_length=1, max_length=255)


class _Pull(BaseModel):
    model_config = ConfigDict(extra="ignore")
    number: int
    merged: bool | None = None
    merge_commit_sha: str | None = None
    head: _Ref
    base: _Ref


class _Repo(BaseModel):
    model_config = ConfigDict(extra="ignore")
    full_name: str = Field(min_length=3, max_length=200)


class GithubPullRequestEvent(BaseModel):
    model_config = ConfigDict(extra="ignore")
    action: str = Field(max_length=100)
    number: int
    pull_request: _Pull
    repository: _Repo


class PullRequestAnswered(BaseModel):
    """A promotion's pull request closed: its run continues (merged) or ends (rejected)."""

    run_id: str
    merged: bool


def is_pull_request_event(provider: str, headers: Mapping[str, str]) -> bool:
    return provider == "github" and headers.get("x-github-event") == EVENT


def signed_by(settings: Settings, body: bytes, headers: Mapping[str, str]) -> list[str]:
    """The configured repositories (source or gitops) whose webhook secret signed the body."""
    header = headers.get("x-hub-signature-256")
    secrets: list[tuple[str, SecretStr | None]]
    secrets = [(repo.name, repo.webhook_secret) for repo in settings.repositories]
    secrets += [(repo.name, repo.webhook_secret) for repo in settings.gitops_repositories]
    return [
        name
        for name, secret in secrets
        if secret is not None and signature_matches(secret.get_secret_value(), body, header)
    ]


async def receive_pull_request(
    headers: Mapping[str, str], body: bytes, runtime: Runtime
) -> JSONResponse:
    signers = signed_by(runtime.settings, body, headers)
    if not signers:
        raise WebhookRefused(401, "missing or invalid X-Hub-Signature-256")
    try:
        hook = load(body, GithubPullRequestEvent, "GitHub")
    except WebhookRejected as exc:
        raise WebhookRefused(exc.status, exc.reason) from None
    repository = hook.repository.full_name
    if repository not in signers:
        raise WebhookRefused(403, f"repository {repository} does not use this secret", repository)
    if hook.action != "closed":
        return _ignored(f"pull request {hook.action}: only a close moves a promotion")
    store = PromotionPulls(runtime.redis, keys=runtime.keyspace)
    pending = await run_in_threadpool(store.get, repository, hook.number)
    if pending is None:
        return _ignored(f"no promotion waits on pull request #{hook.number} of {repository}")
    pull = hook.pull_request
    event = closed_event(pending, bool(pull.merged), pull.merge_commit_sha)
    await run_in_threadpool(runtime.bus.publish, event)
    get_logger(run_id=pending.run_id).info(
        "promotion pull request closed", number=hook.number, merged=event.merged
    )
    answer = PullRequestAnswered(run_id=pending.run_id, merged=event.merged)
    return JSONResponse(answer.model_dump(), 202)


def _ignored(why: str) -> JSONResponse:
    return JSONResponse({"ignored": why}, 202)

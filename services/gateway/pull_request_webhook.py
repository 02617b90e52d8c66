"""Pull-request webhooks: a promotion's pull (merge) request merged or closed.

GitHub's `pull_request`, Gitea's `pull_request` (the same shape) and GitLab's `Merge
Request Hook`. Verified like pushes, before a byte of the body is read (the host's
signature or token), with the webhook secret of a configured repository (manifests in the
source repository) or of a gitops repository entry that has one, and the payload's
repository must be the one whose secret signed it. Only a close matters (GitLab: the
actions `merge` and `close`), and only for a request a promotion waits on
(services/common/promotion_pulls.py): the gateway then queues a PullRequestClosed for the
committer in that promotion's run. The committer believes a merge only once git shows it
(services/committer/pull_request_writeback.py); the reconciler re-reads requests whose
webhook never came (services/reconciler/promotion_pulls.py).

GitLab publishes no schema of its webhooks in a package: the merge-request payload read
here follows GitLab's webhook documentation (`object_attributes.iid`, `action`, `state`,
`merge_commit_sha`; `project.path_with_namespace`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from starlette.concurrency import run_in_threadpool

from services.common.logging import get_logger
from services.common.promotion_pulls import PromotionPulls, closed_event
from services.common.runtime import Runtime
from services.common.settings import Settings
from services.gateway.webhook import GitHost, WebhookRefused, WebhookRejected, load

EVENTS = {
    "github": ("x-github-event", "pull_request"),
    "gitea": ("x-gitea-event", "pull_request"),
    "gitlab": ("x-gitlab-event", "Merge Request Hook"),
}


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


class _Project(BaseModel):
    model_config = ConfigDict(extra="ignore")
    path_with_namespace: str = Field(min_length=3, max_length=200)


class _MergeRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    iid: int
    action: str | None = Field(default=None, max_length=100)
    state: str | None = Field(default=None, max_length=100)
    merge_commit_sha: str | None = None


class GitlabMergeRequestEvent(BaseModel):
    model_config = ConfigDict(extra="ignore")
    object_kind: str = Field(max_length=100)
    project: _Project
    object_attributes: _MergeRequest


@dataclass(frozen=True)
class _Closing:
    """What any host's hook says: which request, and whether it closed it, merged or not."""

    repository: str
    number: int
    action: str
    closed: bool
    merged: bool
    merge_commit_sha: str | None


class PullRequestAnswered(BaseModel):
    """A promotion's pull request closed: its run continues (merged) or ends (rejected)."""

    run_id: str
    merged: bool


def is_pull_request_event(provider: str, headers: Mapping[str, str]) -> bool:
    header, name = EVENTS[provider]
    return headers.get(header) == name


def signed_by(
    settings: Settings, host: GitHost, body: bytes, headers: Mapping[str, str]
) -> list[str]:
    """The configured repositories (source or gitops) whose webhook secret signed the body
    (or, for GitLab, is the token it carries)."""
    secrets: list[tuple[str, SecretStr | None]]
    secrets = [(repo.name, repo.webhook_secret) for repo in settings.repositories]
    secrets += [(repo.name, repo.webhook_secret) for repo in settings.gitops_repositories]
    return [
        name
        for name, secret in secrets
        if secret is not None and host.verify(secret.get_secret_value(), body, headers)
    ]


def _closing(provider: str, body: bytes) -> _Closing:
    if provider == "gitlab":
        merge_request = load(body, GitlabMergeRequestEvent, "GitLab")
        change = merge_request.object_attributes
        action = change.action or ""
        return _Closing(
            repository=merge_request.project.path_with_namespace,
            number=change.iid,
            action=action,
            closed=action in ("merge", "close"),
            merged=action == "merge" or change.state == "merged",
            merge_commit_sha=change.merge_commit_sha,
        )
    hook = load(body, GithubPullRequestEvent, "Gitea" if provider == "gitea" else "GitHub")
    return _Closing(
        repository=hook.repository.full_name,
        number=hook.number,
        action=hook.action,
        closed=hook.action == "closed",
        merged=bool(hook.pull_request.merged),
        merge_commit_sha=hook.pull_request.merge_commit_sha,
    )


async def receive_pull_request(
    host: GitHost, headers: Mapping[str, str], body: bytes, runtime: Runtime
) -> JSONResponse:
    signers = signed_by(runtime.settings, host, body, headers)
    if not signers:
        raise WebhookRefused(401, f"missing or invalid {host.signature_header}")
    try:
        hook = _closing(host.provider, body)
    except WebhookRejected as exc:
        raise WebhookRefused(exc.status, exc.reason) from None
    repository = hook.repository
    if repository not in signers:
        raise WebhookRefused(403, f"repository {repository} does not use this secret", repository)
    if not hook.closed:
        return _ignored(f"pull request {hook.action}: only a close moves a promotion")
    store = PromotionPulls(runtime.redis, keys=runtime.keyspace)
    pending = await run_in_threadpool(store.get, repository, hook.number)
    if pending is None:
        return _ignored(f"no promotion waits on pull request #{hook.number} of {repository}")
    event = closed_event(pending, hook.merged, hook.merge_commit_sha)
    await run_in_threadpool(runtime.bus.publish, event)
    get_logger(run_id=pending.run_id).info(
        "promotion pull request closed", number=hook.number, merged=event.merged
    )
    answer = PullRequestAnswered(run_id=pending.run_id, merged=event.merged)
    return JSONResponse(answer.model_dump(), 202)


def _ignored(why: str) -> JSONResponse:
    return JSONResponse({"ignored": why}, 202)

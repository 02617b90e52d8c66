"""GitLab push webhooks (Push Hook, Tag Push Hook), authenticated by X-Gitlab-Token.

GitLab sends the shared secret itself rather than a signature; it is compared in
constant time. Its delivery id is `Idempotency-Key` (the same on every retry, GitLab
17.4+), else `X-Gitlab-Event-UUID`, else one derived from the ref update itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from services.common.events import PushReceived
from services.gateway.webhook import (
    REF_PATTERN,
    SHA_PATTERN,
    EventKind,
    GitHost,
    PayloadCommit,
    delivery_id,
    load,
    push_identity,
    pushed_commits,
    secrets_equal,
)

PUSH_EVENTS = ("Push Hook", "Tag Push Hook")


def token_matches(secret: str, header: str | None) -> bool:
    return bool(header) and secrets_equal(secret, header or "")


class _Project(BaseModel):
    model_config = ConfigDict(extra="ignore")
    path_with_namespace: str = Field(min_length=3, max_length=200)


class GitlabPush(BaseModel):
    model_config = ConfigDict(extra="ignore")
    object_kind: Literal["push", "tag_push"]
    ref: str = Field(pattern=REF_PATTERN)
    before: str = Field(pattern=SHA_PATTERN)
    after: str = Field(pattern=SHA_PATTERN)
    user_username: str | None = ""
    project: _Project
    commits: list[PayloadCommit] = []
    total_commits_count: int = 0  # may exceed len(commits): GitLab lists the newest 20


def parse_push(body: bytes, headers: Mapping[str, str], run_id: str) -> PushReceived:
    sent = delivery_id(headers, "Idempotency-Key", "X-Gitlab-Event-UUID", required=False)
    push = load(body, GitlabPush, "GitLab")
    repository = push.project.path_with_namespace
    return PushReceived(
        run_id=run_id,
        provider="gitlab",
        delivery_id=sent or push_identity("gitlab", repository, push.ref, push.before, push.after),
        repository=repository,
        ref=push.ref,
        before=push.before,
        after=push.after,
        pusher=push.user_username or "",
        commits=pushed_commits(push.commits),
    )


def _kind(headers: Mapping[str, str]) -> tuple[EventKind, str]:
    name = headers.get("x-gitlab-event", "")
    return ("push" if name in PUSH_EVENTS else "other"), name


HOST = GitHost(
    provider="gitlab",
    signature_header="X-Gitlab-Token",
    verify=lambda secret, _body, headers: token_matches(secret, headers.get("x-gitlab-token")),
    kind=_kind,
    parse=parse_push,
    delivery_headers=("Idempotency-Key", "X-Gitlab-Event-UUID"),
)

"""Gitea push webhooks: X-Gitea-Signature (hex HMAC-SHA256 of the raw body, no prefix)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

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
    pushed_commits,
    secrets_equal,
)


def signature_matches(secret: str, body: bytes, header: str | None) -> bool:
    if not header:
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return secrets_equal(expected, header.strip().lower())


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class _User(BaseModel):
    model_config = ConfigDict(extra="ignore")
    login: str | None = ""
    username: str | None = ""


class _Repo(BaseModel):
    model_config = ConfigDict(extra="ignore")
    full_name: str = Field(min_length=3, max_length=200)


class GiteaPush(BaseModel):
    model_config = ConfigDict(extra="ignore")  # drops the deprecated in-body `secret`
    ref: str = Field(pattern=REF_PATTERN)
    before: str = Field(pattern=SHA_PATTERN)
    after: str = Field(pattern=SHA_PATTERN)
    repository: _Repo
    pusher: _User = _User()
    commits: list[PayloadCommit] | None = []


def parse_push(body: bytes, headers: Mapping[str, str], run_id: str) -> PushReceived:
    delivery = delivery_id(headers, "X-Gitea-Delivery")
    push = load(body, GiteaPush, "Gitea")
    return PushReceived(
        run_id=run_id,
        provider="gitea",
        delivery_id=delivery or "",
        repository=push.repository.full_name,
        ref=push.ref,
        before=push.before,
        after=push.after,
        pusher=push.pusher.login or push.pusher.username or "",
        commits=pushed_commits(push.commits or []),
    )


def _kind(headers: Mapping[str, str]) -> tuple[EventKind, str]:
    name = headers.get("x-gitea-event", "")
    return ("push" if name == "push" else "other"), name


HOST = GitHost(
    provider="gitea",
    signature_header="X-Gitea-Signature",
    verify=lambda secret, body, headers: signature_matches(
        secret, body, headers.get("x-gitea-signature")
    ),
    kind=_kind,
    parse=parse_push,
    delivery_headers=("X-Gitea-Delivery",),
)

"""GitHub push webhooks: verify X-Hub-Signature-256 over the raw body, then parse."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping

from pydantic import BaseModel, ConfigDict, Field

from services.common.events import PushReceived
from services.common.settings import Repository
from services.gateway.webhook import (
    REF_PATTERN,
    SHA_PATTERN,
    EventKind,
    GitHost,
    PayloadCommit,
    WebhookRejected,
    delivery_id,
    load,
    pushed_commits,
    secrets_equal,
)

__all__ = [  # WebhookRejected stays importable from here, where it used to live
    "HOST",
    "GithubPush",
    "WebhookRejected",
    "parse_push",
    "sign",
    "signature_matches",
    "verified_repositories",
]


def signature_matches(secret: str, body: bytes, header: str | None) -> bool:
    if not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return secrets_equal(expected, header.removeprefix("sha256="))


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verified_repositories(
    repositories: Iterable[Repository], body: bytes, header: str | None
) -> list[Repository]:
    """The configured repositories whose secret signed this body (checked before parsing)."""
    return HOST.verified(repositories, body, {"x-hub-signature-256": header or ""})


class _Named(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str = ""


class _Repo(BaseModel):
    model_config = ConfigDict(extra="ignore")
    full_name: str = Field(min_length=3, max_length=200)


class GithubPush(BaseModel):
    model_config = ConfigDict(extra="ignore")
    ref: str = Field(pattern=REF_PATTERN)
    before: str = Field(pattern=SHA_PATTERN)
    after: str = Field(pattern=SHA_PATTERN)
    repository: _Repo
    pusher: _Named = _Named()
    commits: list[PayloadCommit] = []


def parse_push(body: bytes, headers: Mapping[str, str], run_id: str) -> PushReceived:
    delivery = delivery_id(headers, "X-GitHub-Delivery")
    push = load(body, GithubPush, "GitHub")
    return PushReceived(
        run_id=run_id,
        provider="github",
        delivery_id=delivery or "",
        repository=push.repository.full_name,
        ref=push.ref,
        before=push.before,
        after=push.after,
        pusher=push.pusher.name,
        commits=pushed_commits(push.commits),
    )


def _kind(headers: Mapping[str, str]) -> tuple[EventKind, str]:
    name = headers.get("x-github-event", "")
    return ("push" if name == "push" else "ping" if name == "ping" else "other"), name


HOST = GitHost(
    provider="github",
    signature_header="X-Hub-Signature-256",
    verify=lambda secret, body, headers: signature_matches(
        secret, body, headers.get("x-hub-signature-256")
    ),
    kind=_kind,
    parse=parse_push,
    delivery_headers=("X-GitHub-Delivery",),
)

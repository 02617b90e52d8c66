"""GitHub push webhooks: verify X-Hub-Signature-256 over the raw body, then parse."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.common.events import PushedCommit, PushReceived
from services.common.settings import Repository

SHA_PATTERN = r"^[0-9a-f]{40}$"


class WebhookRejected(Exception):  # noqa: N818 - carries an HTTP status for the route
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def signature_matches(secret: str, body: bytes, header: str | None) -> bool:
    if not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header.removeprefix("sha256="))


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verified_repositories(
    repositories: Iterable[Repository], body: bytes, header: str | None
) -> list[Repository]:
    """The configured repositories whose secret signed this body (checked before parsing)."""
    return [
        repo
        for repo in repositories
        if signature_matches(repo.webhook_secret.get_secret_value(), body, header)
    ]


class _Author(BaseModel):
    model_config = ConfigDict(extra="ignore")
    email: str | None = ""


class _Commit(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str = Field(pattern=SHA_PATTERN)
    message: str = ""
    author: _Author = _Author()
    added: list[str] = []
    modified: list[str] = []
    removed: list[str] = []


class _Named(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str = ""


class _Repo(BaseModel):
    model_config = ConfigDict(extra="ignore")
    full_name: str = Field(min_length=3, max_length=200)


class GithubPush(BaseModel):
    model_config = ConfigDict(extra="ignore")
    ref: str = Field(pattern=r"^refs/(heads|tags)/[A-Za-z0-9._/-]{1,200}$")
    before: str = Field(pattern=SHA_PATTERN)
    after: str = Field(pattern=SHA_PATTERN)
    repository: _Repo
    pusher: _Named = _Named()
    commits: list[_Commit] = []


def parse_push(body: bytes, headers: Mapping[str, str], run_id: str) -> PushReceived:
    delivery = headers.get("x-github-delivery", "")
    if not delivery or len(delivery) > 100:
        raise WebhookRejected(400, "missing or oversized X-GitHub-Delivery header")
    try:
        data: Any = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise WebhookRejected(400, "body is not valid JSON") from None
    try:
        push = GithubPush.model_validate(data)
    except ValidationError as exc:
        where = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
            for e in exc.errors(include_url=False, include_input=False)
        )
        raise WebhookRejected(422, f"not a valid GitHub push: {where}") from None
    if ".." in push.ref:
        raise WebhookRejected(422, "ref must not contain '..'")
    return PushReceived(
        run_id=run_id,
        provider="github",
        delivery_id=delivery,
        repository=push.repository.full_name,
        ref=push.ref,
        before=push.before,
        after=push.after,
        pusher=push.pusher.name,
        commits=tuple(
            PushedCommit(
                id=c.id,
                message=c.message[:1000],
                author=c.author.email or "",
                added=tuple(c.added),
                modified=tuple(c.modified),
                removed=tuple(c.removed),
            )
            for c in push.commits[:500]
        ),
    )

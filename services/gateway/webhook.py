"""What every git host's webhook parser shares: one shape, one rejection, one ref rule.

Each host (github.py, gitlab.py, gitea.py) describes itself as a :class:`GitHost`: how a
configured repository's secret is checked against the raw request, which event a
request carries, and how its body becomes the same ``PushReceived``. The route verifies
before it lets a parser read a byte of the body.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.exceptions import HTTPException

from services.common.events import PushedCommit, PushReceived
from services.common.logging import get_logger
from services.common.settings import Repository
from services.common.validation_messages import explain_validation
from services.gateway.json_body import invalid_json_reason

SHA_PATTERN = r"^[0-9a-f]{40}$"
REF_PATTERN = r"^refs/(heads|tags)/[A-Za-z0-9._/-]{1,200}$"
MAX_COMMITS = 500
MAX_MESSAGE = 1000
DELIVERY_PATTERN = re.compile(r"[!-~]{1,100}")  # printable ASCII: ids become keys, logged
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")  # no line of its own in a log
EventKind = Literal["push", "ping", "other"]

Model = TypeVar("Model", bound=BaseModel)


class WebhookRejected(Exception):  # noqa: N818 - carries an HTTP status for the route
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class WebhookRefused(HTTPException):
    """A 401 or 403: the sender is not trusted for what it sent. The gateway answers it as
    any HTTPException and logs it once (`log_refusal`); `repository` when the verified body
    named one."""

    def __init__(self, status: int, reason: str, repository: str | None = None) -> None:
        super().__init__(status, reason)
        self.repository = repository


@dataclass(frozen=True)
class GitHost:
    """One git host's webhook dialect."""

    provider: Literal["github", "gitlab", "gitea"]
    signature_header: str  # named in the 401 answer
    verify: Callable[[str, bytes, Mapping[str, str]], bool]  # (secret, raw body, headers)
    kind: Callable[[Mapping[str, str]], tuple[EventKind, str]]  # → kind and the host's name
    parse: Callable[[bytes, Mapping[str, str], str], PushReceived]  # (body, headers, run id)
    delivery_headers: tuple[str, ...] = ()  # where the host puts a delivery's id, first found

    def verified(
        self, repositories: Iterable[Repository], body: bytes, headers: Mapping[str, str]
    ) -> list[Repository]:
        """The configured repositories whose secret this request carries or was signed with."""
        return [
            repo
            for repo in repositories
            if self.verify(repo.webhook_secret.get_secret_value(), body, headers)
        ]


def log_refusal(
    host: GitHost, refusal: WebhookRefused, headers: Mapping[str, str], client: str | None
) -> None:
    """One line per refused webhook: why, the repository when known, the delivery id and the
    client's address; never a secret, a signature or a byte of the body."""
    delivery = next(filter(None, (headers.get(h.lower()) for h in host.delivery_headers)), "")
    get_logger().warning(
        "webhook rejected",
        provider=host.provider,
        status=refusal.status_code,
        reason=_CONTROL.sub("?", str(refusal.detail)),
        repository=_CONTROL.sub("?", refusal.repository) if refusal.repository else None,
        delivery=delivery if DELIVERY_PATTERN.fullmatch(delivery) else None,
        client=client,
    )


def secrets_equal(expected: str, given: str) -> bool:
    """Constant-time comparison of a secret (or its HMAC) with what a header carries.

    Compared as UTF-8 bytes: `hmac.compare_digest` refuses two strings with non-ASCII
    characters (TypeError), and a header may hold any byte.
    """
    return hmac.compare_digest(expected.encode(), given.encode(errors="surrogatepass"))


def load(body: bytes, model: type[Model], host: str) -> Model:
    """Parse JSON into a host's payload model: 400 for bad JSON, 422 naming the bad field."""
    try:
        parsed = model.model_validate_json(body)
    except ValidationError as exc:
        invalid_json = [e for e in exc.errors() if e["type"] == "json_invalid"]
        if invalid_json:
            message = str(invalid_json[0].get("ctx", {}).get("error", ""))
            raise WebhookRejected(400, invalid_json_reason(message)) from None
        raise WebhookRejected(422, f"not a valid {host} push: {explain_validation(exc)}") from None
    ref = getattr(parsed, "ref", "")
    if ".." in ref:
        raise WebhookRejected(422, "ref must not contain '..'")
    return parsed


def delivery_id(headers: Mapping[str, str], *names: str, required: bool = True) -> str | None:
    """The first of the named delivery headers present; 400 when required and absent, huge,
    or anything but printable ASCII (control characters would reach keys and logs)."""
    for name in names:
        value = headers.get(name.lower(), "")
        if value:
            if len(value) > 100:
                raise WebhookRejected(400, f"oversized {name} header")
            if not DELIVERY_PATTERN.fullmatch(value):
                raise WebhookRejected(400, f"{name} must be printable ASCII without spaces")
            return value
    if required:
        raise WebhookRejected(400, f"missing {names[0]} header")
    return None


def push_identity(provider: str, repository: str, ref: str, before: str, after: str) -> str:
    """A delivery id for hosts that send none: the same ref update always gets the same one."""
    text = f"{provider}:{repository}:{ref}:{before}:{after}"
    return "push-" + hashlib.sha256(text.encode()).hexdigest()[:32]


class PayloadAuthor(BaseModel):
    model_config = ConfigDict(extra="ignore")
    email: str | None = ""


class PayloadCommit(BaseModel):
    """A commit as every host lists it (file lists absent in some host versions)."""

    model_config = ConfigDict(extra="ignore")
    id: str = Field(pattern=SHA_PATTERN)
    message: str = ""
    author: PayloadAuthor = PayloadAuthor()
    added: list[str] | None = []
    modified: list[str] | None = []
    removed: list[str] | None = []


def pushed_commits(commits: Iterable[Any]) -> tuple[PushedCommit, ...]:
    """The payload's commit list (hosts share its shape), capped; informative only."""
    return tuple(
        PushedCommit(
            id=c.id,
            message=c.message[:MAX_MESSAGE],
            author=c.author.email or "",
            added=tuple(c.added or ()),
            modified=tuple(c.modified or ()),
            removed=tuple(c.removed or ()),
        )
        for c in list(commits)[:MAX_COMMITS]
    )

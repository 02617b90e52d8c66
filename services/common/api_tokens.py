"""API tokens and what each may do (server settings `api_tokens`).

An entry is either a plain string, which may read and write (what every token could do
before scopes existed), or `{token, scopes, name}`: `scopes: [read]` for a reader (a
dashboard viewer, Prometheus), `[read, write]` for an operator or a CI job.

Narrower than write, an action in an environment: `deploy` (hand deploys, forced builds,
releases), `promote`, `rollback` (rollbacks and unpins), each alone for every environment or
as `<action>:<environment>` (`promote:production`); `admin` may do everything. An
environment lives in each repository's shipline.yaml, which the server does not read at
load: a scope naming an environment no repository has is valid and simply never matches.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
)

from services.common.secret_files import SecretFiles

Action = Literal["deploy", "promote", "rollback"]
ACTIONS: tuple[Action, ...] = ("deploy", "promote", "rollback")
FULL_ACCESS: tuple[str, ...] = ("read", "write")
_SCOPE = re.compile(r"^(?:read|write|admin|(?:deploy|promote|rollback)(?::(?P<env>[^:]+))?)$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
FORMS = (
    "read, write, admin, or deploy, promote, rollback: each alone (every environment) or "
    "as <action>:<environment> with an environment's name from shipline.yaml "
    "(e.g. promote:production)"
)


def _scope(value: str) -> str:
    found = _SCOPE.match(value)
    if found is None or (found["env"] is not None and not _DNS_LABEL.match(found["env"])):
        raise ValueError(f"{value!r} is not a scope; the forms are {FORMS}")
    return value


ScopeText = Annotated[str, AfterValidator(_scope)]


class ApiToken(SecretFiles):
    model_config = ConfigDict(extra="forbid", frozen=True)
    secret_keys = ("token",)  # token_file: the gateway's file of it (docs/deploy.md "Secrets")

    token: SecretStr
    scopes: tuple[ScopeText, ...] = FULL_ACCESS
    # Logged as the caller and recorded as who asked for a deploy; the token never is.
    name: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,62}$")

    @field_validator("scopes")
    @classmethod
    def _writers_also_read(cls, scopes: tuple[str, ...]) -> tuple[str, ...]:
        if "read" not in scopes and "admin" not in scopes:
            raise ValueError(
                "must include read: [read] for a reader, [read, write] to write, "
                "[read, promote:staging] to promote to staging only"
            )
        return tuple(dict.fromkeys(scopes))

    def allows(self, scope: Literal["read", "write"]) -> bool:
        """`write`: every write in every environment (admin includes it)."""
        return scope in self.scopes or "admin" in self.scopes

    def may(self, action: Action, environment: str | None) -> bool:
        """Whether the token may `action` in `environment` (None: a project without
        `environments:`, or one whose environments the gateway does not know yet, which
        only a scope for every environment covers)."""
        if self.allows("write") or action in self.scopes:
            return True
        return environment is not None and f"{action}:{environment}" in self.scopes

    def acts(self) -> bool:
        """Whether the token may write anything at all (any scope beyond read)."""
        return any(scope != "read" for scope in self.scopes)

    def environments_for(self, action: Action) -> list[str]:
        """The environments a scope names for `action` (`promote:staging` → staging)."""
        prefix = f"{action}:"
        return [scope.removeprefix(prefix) for scope in self.scopes if scope.startswith(prefix)]


def _plain_token_is_full_access(value: Any) -> Any:
    if isinstance(value, str | SecretStr):
        return {"token": value}
    return value


ApiTokenEntry = Annotated[ApiToken, BeforeValidator(_plain_token_is_full_access)]


def identities(api_tokens: list[ApiToken]) -> list[str]:
    """How each token is named in logs and records: its `name`, else `api-token-<n>`."""
    return [entry.name or f"api-token-{n}" for n, entry in enumerate(api_tokens, start=1)]

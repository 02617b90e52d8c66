"""API tokens and what each may do (server settings `api_tokens`).

An entry is either a plain string, which may read and write (what every token could do
before scopes existed), or `{token, scopes, name}`: `scopes: [read]` for a reader (a
dashboard viewer, Prometheus), `[read, write]` for an operator or a CI job.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ConfigDict, Field, SecretStr, field_validator

from services.common.secret_files import SecretFiles

Scope = Literal["read", "write"]
FULL_ACCESS: tuple[Scope, ...] = ("read", "write")


class ApiToken(SecretFiles):
    model_config = ConfigDict(extra="forbid", frozen=True)
    secret_keys = ("token",)  # token_file: the gateway's file of it (docs/deploy.md "Secrets")

    token: SecretStr
    scopes: tuple[Scope, ...] = FULL_ACCESS
    # Logged as the caller and recorded as who asked for a deploy; the token never is.
    name: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,62}$")

    @field_validator("scopes")
    @classmethod
    def _writers_also_read(cls, scopes: tuple[Scope, ...]) -> tuple[Scope, ...]:
        if "read" not in scopes:
            raise ValueError("must include read: [read] for a reader, [read, write] to write")
        return tuple(dict.fromkeys(scopes))

    def allows(self, scope: Scope) -> bool:
        return scope in self.scopes


def _plain_token_is_full_access(value: Any) -> Any:
    if isinstance(value, str | SecretStr):
        return {"token": value}
    return value


ApiTokenEntry = Annotated[ApiToken, BeforeValidator(_plain_token_is_full_access)]


def identities(api_tokens: list[ApiToken]) -> list[str]:
    """How each token is named in logs and records: its `name`, else `api-token-<n>`."""
    return [entry.name or f"api-token-{n}" for n, entry in enumerate(api_tokens, start=1)]

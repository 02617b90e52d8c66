"""Bearer tokens for the write endpoints (settings.api_tokens)."""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from typing import Annotated

from fastapi import Depends, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr

from services.gateway.deps import RuntimeDep

# auto_error=False: the 401 below (with its WWW-Authenticate) is ours; the scheme is declared
# so that /docs offers "Authorize" and marks the write endpoints as needing it.
_bearer = HTTPBearer(auto_error=False, description="A token from the server's api_tokens.")


def bearer_caller(
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """Who is calling, as `api-token-<n>` (never the token); 401 without a token, 403 if unknown."""
    token = credentials.credentials.strip() if credentials else ""
    if not token:
        raise HTTPException(
            401, "a bearer token is required", headers={"WWW-Authenticate": "Bearer"}
        )
    caller = token_identity(token, runtime.settings.api_tokens)
    if caller is None:
        raise HTTPException(403, "the token is not accepted")
    return caller


def token_identity(token: str, api_tokens: Sequence[SecretStr]) -> str | None:
    """`api-token-<n>` for the n-th configured token (never the token itself), or None; every
    token is compared in constant time."""
    matches = [
        hmac.compare_digest(known.get_secret_value().encode(), token.encode())
        for known in api_tokens
    ]
    return f"api-token-{matches.index(True) + 1}" if any(matches) else None


CallerDep = Annotated[str, Depends(bearer_caller)]

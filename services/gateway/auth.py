"""Bearer tokens for the write endpoints (settings.api_tokens)."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

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
    matches = [
        hmac.compare_digest(known.get_secret_value().encode(), token.encode())
        for known in runtime.settings.api_tokens
    ]
    if not any(matches):
        raise HTTPException(403, "the token is not accepted")
    return f"api-token-{matches.index(True) + 1}"


CallerDep = Annotated[str, Depends(bearer_caller)]

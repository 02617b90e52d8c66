"""Bearer tokens for the write endpoints (settings.api_tokens)."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from services.gateway.deps import RuntimeDep


def bearer_caller(request: Request, runtime: RuntimeDep) -> str:
    """Who is calling, as `api-token-<n>` (never the token); 401 without a token, 403 if unknown."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
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

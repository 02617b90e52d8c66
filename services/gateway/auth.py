"""Who may read and who may write (settings.api_tokens, settings.public_read).

Every API route sits behind `read_access` (app.py includes them through one router that
depends on it), so a new route is private without anyone remembering to make it so. Writes
also take `CallerDep`, which wants a token whose scopes include write (or admin), or, for a
deploy, promotion or rollback, `ActorDep` (any scope beyond read) and then `permitted` once
the route knows the environment it acts on (services/common/api_tokens.py has the scopes).
"""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.common.api_tokens import Action, ApiToken, identities
from services.gateway import stream_tickets
from services.gateway.deps import RuntimeDep

# auto_error=False: the 401 below (with its WWW-Authenticate) is ours; the scheme is declared
# so that /docs offers "Authorize" and marks the endpoints as needing it.
_bearer = HTTPBearer(
    auto_error=False,
    description=(
        "A token from the server's api_tokens: scope read for GETs, write (or admin) for "
        "every write; deploy, promote, rollback (alone, or <action>:<environment>) for those."
    ),
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
TICKET_PARAMETER = "ticket"


@dataclass(frozen=True)
class Caller:
    identity: str  # the token's name or `api-token-<n>`: what logs and records show
    index: int  # its place in api_tokens
    token: ApiToken


def authenticate(token: str, api_tokens: list[ApiToken]) -> Caller | None:
    """The configured token equal to `token`; every one is compared in constant time."""
    matches = [
        hmac.compare_digest(entry.token.get_secret_value().encode(), token.encode())
        for entry in api_tokens
    ]
    if not any(matches):
        return None
    index = matches.index(True)
    return Caller(identities(api_tokens)[index], index, api_tokens[index])


def token_identity(token: str, api_tokens: list[ApiToken]) -> str | None:
    """The token's name or `api-token-<n>` (never the token itself), or None."""
    caller = authenticate(token, api_tokens)
    return caller.identity if caller else None


def read_access(request: Request, runtime: RuntimeDep, credentials: Credentials) -> None:
    """Lets a token (any scope: every scope includes read) or, on an event stream, a stream
    ticket through; anyone when `public_read` is set. 401 without, 403 for an unknown token.
    The caller is kept in `request.state.caller` (None: anonymous) for the stream limits."""
    caller = _presented(request, runtime.settings.api_tokens, credentials)
    if caller is None and not runtime.settings.public_read:
        raise _unauthorized("a bearer token with read scope is required (api_tokens)")
    request.state.caller = caller


def token_reader(request: Request, runtime: RuntimeDep, credentials: Credentials) -> Caller:
    """A caller with a token even when reads are public (dead letters carry whole events)."""
    caller = _presented(request, runtime.settings.api_tokens, credentials)
    if caller is None:
        raise _unauthorized("a bearer token is required")
    return caller


def bearer_caller(runtime: RuntimeDep, credentials: Credentials) -> str:
    """Who is writing: 401 without a token, 403 for an unknown token or one without write
    (or admin) scope."""
    caller = _writer(runtime, credentials)
    if not caller.token.allows("write"):
        raise HTTPException(
            403,
            f"token {caller.identity} may not use this endpoint (scopes: "
            f"{list(caller.token.scopes)}): write or admin needed",
        )
    return caller.identity


def acting_caller(runtime: RuntimeDep, credentials: Credentials) -> Caller:
    """A caller whose token may write something: what it may do where is for `permitted`,
    once the route knows the environment. 401 without a token, 403 for an unknown or a
    read-only one."""
    return _writer(runtime, credentials)


def permitted(caller: Caller, action: Action, environment: str | None) -> str:
    """The caller's name when its token may `action` in `environment` (None: not a named
    environment, see acted_environments.py); else 403 naming the scope needed."""
    if caller.token.may(action, environment):
        return caller.identity
    raise HTTPException(403, _refusal(caller, action, environment))


# (the verb, its preposition): "may promote to staging only", "may not roll back"
_VERBS = {"deploy": ("deploy", "to"), "promote": ("promote", "to"), "rollback": ("roll back", "in")}


def _refusal(caller: Caller, action: Action, environment: str | None) -> str:
    mine = caller.token.environments_for(action)
    verb, preposition = _VERBS[action]
    needed = f"{action}:{environment}" if environment else action
    if environment is None:
        needed += " (every environment: this repository's environments are not known here)"
    if mine:
        return (
            f"token {caller.identity} may {verb} {preposition} {', '.join(mine)} only: "
            f"{needed} needed"
        )
    return (
        f"token {caller.identity} may not {verb} (scopes: {list(caller.token.scopes)}): "
        f"{needed} needed"
    )


def _writer(runtime: RuntimeDep, credentials: Credentials) -> Caller:
    token = credentials.credentials.strip() if credentials else ""
    if not token:
        raise _unauthorized("a bearer token is required")
    caller = authenticate(token, runtime.settings.api_tokens)
    if caller is None:
        raise HTTPException(403, "the token is not accepted")
    if not caller.token.acts():
        raise HTTPException(
            403,
            f"token {caller.identity} may only read (scopes: {list(caller.token.scopes)}); "
            "this endpoint needs a token with scopes [read, write]",
        )
    return caller


def _presented(
    request: Request, api_tokens: list[ApiToken], credentials: Credentials
) -> Caller | None:
    token = credentials.credentials.strip() if credentials else ""
    if token:
        caller = authenticate(token, api_tokens)
        if caller is None:
            raise HTTPException(403, "the token is not accepted")
        return caller
    ticket = request.query_params.get(TICKET_PARAMETER)
    if ticket is None or request.method != "GET":
        return None
    path = request.scope["path"].removeprefix(request.scope.get("root_path", ""))
    index = stream_tickets.holder(ticket, path, api_tokens, now=time.time())
    if index is None:
        raise _unauthorized(
            "the stream ticket is expired, malformed or for another path: "
            "POST /api/v1/stream-tickets for a new one"
        )
    return Caller(identities(api_tokens)[index], index, api_tokens[index])


def _unauthorized(reason: str) -> HTTPException:
    return HTTPException(401, reason, headers={"WWW-Authenticate": "Bearer"})


CallerDep = Annotated[str, Depends(bearer_caller)]
ActorDep = Annotated[Caller, Depends(acting_caller)]
ReaderDep = Annotated[Caller, Depends(token_reader)]

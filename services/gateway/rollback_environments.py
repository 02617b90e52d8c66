"""Which environment a rollback or an unpin acts in, as the gateway can tell without git: the
environments the committer last recorded for the repository (services/common/environment_view.py).

None names the first environment (the behaviour before environments). A name the recorded
view does not hold is refused with 422; with no view recorded yet the committer decides
(an unknown name then fails the run, saying so).
"""

from __future__ import annotations

from fastapi import HTTPException

from services.common.environment_view import EnvironmentsStore, EnvironmentsView
from services.common.pins import FIRST_ENVIRONMENT
from services.gateway.acted_environments import first_environment
from services.gateway.deps import RuntimeDep

ENVIRONMENT = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"  # a DNS label, as environments are


def acted_in(runtime: RuntimeDep, repository: str, environment: str | None) -> str | None:
    """The environment the token's `rollback` scope must cover (None: none is known)."""
    if environment is None:
        return first_environment(runtime, repository)
    view = _view(runtime, repository)
    if view is not None and view.environments:
        names = [known.name for known in view.environments]
        if environment not in names:
            raise HTTPException(
                422,
                f"{repository} has no environment {environment!r} (there are: {', '.join(names)})",
            )
    return environment


def cached_as(runtime: RuntimeDep, repository: str, environment: str | None) -> str:
    """The environment's name in the pins' cache: FIRST_ENVIRONMENT for the first one."""
    if environment is None or environment == first_environment(runtime, repository):
        return FIRST_ENVIRONMENT
    return environment


def _view(runtime: RuntimeDep, repository: str) -> EnvironmentsView | None:
    return EnvironmentsStore(runtime.redis, keys=runtime.keyspace).read(repository)

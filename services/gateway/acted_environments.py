"""Which environment a write acts on, for the token scopes that name one (`deploy:staging`).

The gateway has no git: it knows a repository's environments from the view the committer
records after each commit (services/common/environment_view.py). None means no environment
is known (no `environments:` in shipline.yaml, or nothing recorded yet), which only a scope
for every environment covers.
"""

from __future__ import annotations

from services.common.environment_view import EnvironmentsStore, EnvironmentsView
from services.gateway.deps import RuntimeDep


def first_environment(runtime: RuntimeDep, repository: str) -> str | None:
    """Where pushes, hand deploys, forced builds and (until rollbacks name an environment)
    rollbacks and unpins land: the first environment."""
    view = _view(runtime, repository)
    return view.environments[0].name if view is not None and view.environments else None


def release_environment(runtime: RuntimeDep, repository: str) -> str | None:
    """Where a release tag deploys: the environment with `releases: true`, else the first."""
    view = _view(runtime, repository)
    if view is None or not view.environments:
        return None
    releasing = [env.name for env in view.environments if env.releases]
    return releasing[0] if releasing else view.environments[0].name


def _view(runtime: RuntimeDep, repository: str) -> EnvironmentsView | None:
    return EnvironmentsStore(runtime.redis, keys=runtime.keyspace).read(repository)

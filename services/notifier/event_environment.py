"""Which environment a notification is about, from what the pipeline recorded.

- A rollout (ManifestCommitted, DeploymentVerified, DeploymentFailed) is in the environment
  whose manifest of the service is the path the commit wrote, in the gitops repository and
  on the branch it went to (rollout_environment.py), by shipline.yaml at the source commit,
  as auto-promotion reads it.
- Any other event of a run, and a rollout no single environment writes, is in its run's
  environment: the one a promotion, rollback or unpin was asked for (recorded with the run
  by the gateway, for an API token permitted there, or by auto-promotion); else the one the
  run's trigger deploys to: a release goes to the `releases: true` environment when there is
  one, everything else (pushes, tags, forced builds, redeploys, a rollback or unpin that
  named none) to the first environment, where pushes land.
- A repository the committer has recorded no environments for (no `environments:`) is in
  none: its one place to deploy has no name. Nor is a run that was rebuilt after Redis lost
  it, or a promotion that recorded none.

Never from an `environment` an event says: events are not where the environment is decided.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from services.common.environment_view import EnvironmentsStore, EnvironmentsView
from services.common.errors import PermanentError
from services.common.events import (
    DeploymentFailed,
    DeploymentVerified,
    Envelope,
    ManifestCommitted,
    RunCompleted,
    Source,
)
from services.common.logging import get_logger
from services.common.mirrors import source_project
from services.common.project import Project
from services.common.rollout_environment import Rollout, only_environment
from services.common.run_models import Run
from services.common.settings import Settings

# triggers whose run is in no environment unless one was recorded with it
_NAMED_ONLY = frozenset({"promotion", "recovered"})


class RunReader(Protocol):
    def get(self, run_id: str) -> Run | None: ...


def run_environment(run: Run | None, view: EnvironmentsView) -> str | None:
    """The environment `run` deploys to, by the repository's environments `view`. Pure."""
    if run is None or not view.environments:
        return None
    names = [environment.name for environment in view.environments]
    recorded = (run.model_extra or {}).get("environment")
    if recorded:
        return recorded if recorded in names else None
    if run.trigger is None or run.trigger in _NAMED_ONLY:
        return None
    if run.release:
        releasing = [environment.name for environment in view.environments if environment.releases]
        if releasing:
            return releasing[0]
    return names[0]


class EventEnvironments:
    """The environment an event is in (None: none known). TransientError: Redis or git away
    (the event is retried)."""

    def __init__(
        self,
        settings: Settings,
        views: EnvironmentsStore,
        runs: RunReader,
        read_project: Callable[[Settings, Source], Project] = source_project,
    ) -> None:
        self._settings, self._views, self._runs = settings, views, runs
        self._read_project = read_project

    def __call__(self, event: Envelope, run: Run | None = None) -> str | None:
        """`run`: the event's run when the caller has read it already."""
        repository: str | None = _repository_of(event)
        if not repository:
            run = self._runs.get(event.run_id)
            repository = run.repository if run is not None else None
        view = self._views.read(repository) if repository else None
        if view is None:
            return None
        if isinstance(event, ManifestCommitted | DeploymentVerified | DeploymentFailed):
            written = self._rollout_environment(event)
            if written is not None:
                return written
        return run_environment(run or self._runs.get(event.run_id), view)

    def _rollout_environment(
        self, event: ManifestCommitted | DeploymentVerified | DeploymentFailed
    ) -> str | None:
        try:
            project = self._read_project(self._settings, event.source)
        except PermanentError as exc:
            get_logger().warning("environment not read: shipline.yaml unreadable", error=str(exc))
            return None
        return only_environment(project, Rollout.of(event))


def _repository_of(event: Envelope) -> str:
    if isinstance(event, RunCompleted):
        return event.repository
    source = getattr(event, "source", None)
    if isinstance(source, Source):
        return source.repository
    repository = getattr(event, "repository", "")
    return repository if isinstance(repository, str) else ""

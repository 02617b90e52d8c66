"""The notifier's side of `approval: auto`: the event that ends a service's rollout in an
environment (ManifestCommitted with no cluster, DeploymentVerified) asks for the promotions
services/common/auto_promotion.py decides, started now or after their soak
(auto_promotion_runs.py).

The notifier, because it already consumes exactly those events, whatever the environment
has: no second copy of every commit is queued for another stage, and the committer does not
consume its own output. Only a repository the committer has recorded environments for
(environment_view.py) is looked at further: its shipline.yaml at the landed source commit,
which says what each environment's approval and soak are.
"""

from __future__ import annotations

from collections.abc import Callable

from services.common.auto_promotion import auto_promotions
from services.common.auto_promotion_runs import AutoPromotionRuns
from services.common.environment_view import EnvironmentsStore
from services.common.errors import PermanentError
from services.common.events import DeploymentVerified, Envelope, ManifestCommitted, Source
from services.common.logging import get_logger
from services.common.mirrors import source_project
from services.common.project import Project
from services.common.settings import Settings


def environment_clusters(
    settings: Settings, project: Project, repository: str
) -> dict[str, str | None]:
    """Each environment's cluster: its own `cluster:`, else the server's `clusters` entry
    for its gitops repository and branch."""
    clusters: dict[str, str | None] = {}
    for environment in project.environments:
        gitops = project.gitops_for(environment.name)
        served = settings.cluster_for(gitops.repository or repository, gitops.branch)
        clusters[environment.name] = environment.cluster or (served.name if served else None)
    return clusters


class AutoPromoter:
    def __init__(
        self,
        settings: Settings,
        views: EnvironmentsStore,
        starts: AutoPromotionRuns,
        read_project: Callable[[Settings, Source], Project] = source_project,
    ) -> None:
        self._settings, self._views, self._starts = settings, views, starts
        self._read_project = read_project

    def __call__(self, event: Envelope) -> None:
        """Ask for the promotions `event` lands (TransientError: git or Redis away, retried
        with the event; a shipline.yaml that cannot be read promotes nothing)."""
        if not isinstance(event, ManifestCommitted | DeploymentVerified):
            return
        repository = event.source.repository
        view = self._views.read(repository)
        if view is None:
            return  # no environments recorded for this repository: nothing promotes
        try:
            project = self._read_project(self._settings, event.source)
        except PermanentError as exc:
            get_logger().warning("not auto-promoted: shipline.yaml unreadable", error=str(exc))
            return
        clusters = environment_clusters(self._settings, project, repository)
        pinned = {
            (environment.name, service)
            for environment in view.environments
            for service, running in environment.services.items()
            if running.pinned
        }
        for promotion in auto_promotions(project, event, clusters, pinned):
            self._starts.request(promotion)

"""Verifier stage: ManifestCommitted (to a configured cluster) → DeploymentVerified, or
DeploymentFailed with the reason, which rolls the service back when it opted in.

With `argocd_refresh` set on the cluster, Argo CD is asked to read the commit at once before
the wait (services/verifier/argocd_refresh.py); without, its poll finds it.

The worker runs a threads pool and builds its handler at start-up: every cluster is
watched from then on, once per process, by all verifications at the same time; the
watches also keep each service's live state for the services table.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from services.common.errors import PermanentError
from services.common.events import Envelope, ManifestCommitted
from services.common.runtime import Runtime
from services.common.stage import Handler, StageDefinition
from services.verifier.argocd_refresh import ArgoCDRefresher
from services.verifier.live import LiveStore
from services.verifier.revisions import Revisions
from services.verifier.verify import verify
from services.verifier.watches import Watches


def make_handler(
    runtime: Runtime, watches: Watches | None = None, revisions: Revisions | None = None
) -> Handler:
    settings = runtime.settings
    if watches is None:
        watches = Watches(settings.clusters, LiveStore(runtime.redis, keys=runtime.keyspace).save)
        watches.start()
    ancestry = revisions or Revisions(settings)
    refreshers = {c.name: r for c in settings.clusters if (r := ArgoCDRefresher.of(c))}

    def handle(event: Envelope) -> Sequence[Envelope]:
        if not isinstance(event, ManifestCommitted) or not event.cluster:
            return ()  # nothing to verify: the run ended at the commit
        cluster, view = settings.cluster(event.cluster), watches.view(event.cluster)
        if cluster is None or view is None:
            raise PermanentError(f"cluster {event.cluster} is not configured (clusters)")
        # one field of the run, not the run: a 200-service release verifies 200 commits
        recorded_at = runtime.runs.created_at(event.run_id)
        pushed_at = recorded_at if recorded_at is not None else event.occurred_at.timestamp()
        argocd = cluster.argocd_namespace is not None

        def contains(revision: str) -> bool:
            return ancestry.contains(event.gitops_repository, event.gitops_commit, revision)

        refresher = refreshers.get(cluster.name)
        refreshed = str(refresher.refresh(event)) if refresher else ""
        deadline = cluster.deadline_seconds
        verdict = verify(event, view, deadline, pushed_at, time.time, argocd, contains)
        return (verdict.model_copy(update={"argocd_refresh": refreshed}),)

    return handle


STAGE = StageDefinition(
    name="verifier",
    consumes=(ManifestCommitted,),
    factory=make_handler,
    pool="threads",
    eager=True,
)

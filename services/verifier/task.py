"""Verifier stage: ManifestCommitted (to a configured cluster) → DeploymentVerified, or
DeploymentFailed with the reason, which rolls the service back when it opted in.

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
from services.verifier.live import LiveStore
from services.verifier.revisions import Revisions
from services.verifier.verify import verify
from services.verifier.watches import Watches


def make_handler(runtime: Runtime, watches: Watches | None = None) -> Handler:
    settings = runtime.settings
    if watches is None:
        watches = Watches(settings.clusters, LiveStore(runtime.redis, keys=runtime.keyspace).save)
        watches.start()
    revisions = Revisions(settings)

    def handle(event: Envelope) -> Sequence[Envelope]:
        if not isinstance(event, ManifestCommitted) or not event.cluster:
            return ()  # nothing to verify: the run ended at the commit
        cluster, view = settings.cluster(event.cluster), watches.view(event.cluster)
        if cluster is None or view is None:
            raise PermanentError(f"cluster {event.cluster} is not configured (clusters)")
        run = runtime.runs.get(event.run_id)
        recorded_at = run.created_at if run else None
        pushed_at = recorded_at if recorded_at is not None else event.occurred_at.timestamp()
        argocd = cluster.argocd_namespace is not None

        def contains(revision: str) -> bool:
            return revisions.contains(event.gitops_repository, event.gitops_commit, revision)

        deadline = cluster.deadline_seconds
        return (verify(event, view, deadline, pushed_at, time.time, argocd, contains),)

    return handle


STAGE = StageDefinition(
    name="verifier",
    consumes=(ManifestCommitted,),
    factory=make_handler,
    pool="threads",
    eager=True,
)

"""The services table: what each configured repository deploys right now."""

from __future__ import annotations

from fastapi import APIRouter

from services.common.environment_view import EnvironmentsStore
from services.common.promotion_pulls import PromotionPulls
from services.common.service_table import ServicesTable
from services.gateway import inventory
from services.gateway.deps import RuntimeDep
from services.gateway.drift import DriftReader
from services.verifier.live import LiveStore

router = APIRouter(prefix="/api/v1/services", tags=["services"])


# `problem` and `since` are set only when known: absent from the JSON otherwise, never null
@router.get("", response_model=ServicesTable, response_model_exclude_unset=True)
def list_services(runtime: RuntimeDep) -> ServicesTable:
    """Every service with the image its manifest names at the gitops head, as the workers
    last surveyed it (`surveyed_at`), its last run, its pin and, with a cluster configured,
    its live state there (`live`: sync and health, ready replicas, the image running; null
    without a cluster or before the verifier saw it); `errors` lists the repositories not
    surveyed yet or whose last survey failed, and why.

    `image` is read with the committer's format readers (null, with a `problem`, when the
    manifest is missing or unreadable). The services and images are what the workers last
    read from git and recorded in Redis (the detector after each push to the default
    branch, the committer after each commit), so the gateway answers with no git and no
    network but Redis. A repository not surveyed yet has had no push to its default branch
    since Redis was empty; a failed survey keeps the services found before (`since`: when it
    failed).

    `deployed_commit` is the source commit the service runs (the gitops branch's
    Shipline-Deployed trailers), `desired_commit` the commit a build brings it to (the
    default branch head when the service's content there differs, else the deployed
    commit), `behind_by` the commits since the deployed one that change the service (all
    three null when unknown: never deployed by Shipline, or a survey older than them).
    `drift` sums it up: `state` (`in_sync`, `behind`, `unknown`), `behind_by`, `since` (the
    deployed commit, abbreviated), `last_attempt` (the last build sent on the default
    branch: run, status, and the reason of a failure) and `retry_at` (when the reconciler
    builds a service behind again after a transient failure, epoch seconds).

    For a repository with `environments:` in shipline.yaml, each service also lists
    `environments`, one per environment in order: its `image`, `digest`, the
    `source_repository` and `source_commit` it was built from, `since` (when the committer
    first recorded that image there), `state` (`pending`, `committed`, `healthy`, `failed`,
    `missing`) and the `run_id` of the newest run that wrote it there, `promotable` (and
    the `reason` when not), as the committer recorded them after its last commit to the
    repository (`surveyed_at`), and `pending_pull_request` (`number`, `url`, `run_id`)
    while a promotion's pull request awaits its merge there (null otherwise). Without
    `environments:` the key is absent."""
    live = LiveStore(runtime.redis, keys=runtime.keyspace)
    drift = DriftReader(runtime.redis, keys=runtime.keyspace)
    environments = EnvironmentsStore(runtime.redis, keys=runtime.keyspace)
    pulls = PromotionPulls(runtime.redis, keys=runtime.keyspace)
    return inventory.list_services(
        runtime.settings,
        runtime.inventory,
        runtime.runs,
        runtime.pins,
        live,
        drift,
        environments,
        pulls,
    )

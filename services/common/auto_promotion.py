"""`approval: auto`: which promotions a deploy landing in an environment asks for. Pure.

A service has landed in environment E when its commit there is the end of its rollout: the
ManifestCommitted when E has no cluster, the verifier's DeploymentVerified when it has one
(a DeploymentFailed never promotes; a rollback is no new version to move forward). Each
environment whose `from` is E and whose approval is `auto` then gets a PromotionRequested
of that service, due `soak_seconds` after the landing. Its ids derive from the gitops commit
that landed, the service and the target, so a redelivered landing asks for the same
promotion (deduped by the bus and by the committer's Shipline-Request trailer).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime

from services.common.environments import Environment
from services.common.events import (
    DeploymentVerified,
    Envelope,
    ManifestCommitted,
    PromotionRequested,
    Source,
)
from services.common.project import Project

REQUESTED_BY = "shipline (auto-promotion)"
RUN_PREFIX = "auto-"
_NAMESPACE = uuid.UUID("5b0a7c1e-2f4d-5e8a-9c3b-6d1e0f2a4b7c")


@dataclass(frozen=True)
class Landed:
    """A service's image that reached the end of its rollout in `environment`."""

    environment: str
    service: str
    image: str
    source: Source
    gitops_commit: str
    verified: bool  # by the verifier in a cluster (else: committed, no cluster to check)
    at: datetime  # when it landed: the soak counts from here


@dataclass(frozen=True)
class AutoPromotion:
    request: PromotionRequested
    soak_seconds: int  # after the landing, before the request is published


def auto_promotions(
    project: Project,
    event: Envelope,
    clusters: Mapping[str, str | None],
    pinned: Collection[tuple[str, str]] = (),
) -> list[AutoPromotion]:
    """The promotions `event` asks for. `clusters`: each environment's cluster (its own
    `cluster:`, else the one the server settings give its gitops branch; None: none).
    `pinned`: (environment, service) a rollback holds, never promoted into (the committer
    would refuse it: asking would only fail a run on every deploy)."""
    landed = landed_in(project, event, clusters)
    if landed is None:
        return []
    return [
        AutoPromotion(promotion_request(landed, target), target.soak_seconds)
        for target in project.environments
        if target.source == landed.environment
        and target.approval == "auto"
        and (target.name, landed.service) not in pinned
    ]


def landed_in(
    project: Project, event: Envelope, clusters: Mapping[str, str | None]
) -> Landed | None:
    """Where `event` ends a rollout (None: it ends none, or no environment is its)."""
    if not project.environments or getattr(event, "kind", "deploy") == "rollback":
        return None
    match event:
        case ManifestCommitted() if event.cluster is None and not event.rollback_of:
            if event.old_image == event.new_image or event.service not in project.services:
                return None  # nothing new landed
            name = _committed_to(project, event)
            if name is None or clusters.get(name) is not None:
                return None  # a cluster's commit ends at its verification
            return Landed(
                name,
                event.service,
                event.new_image,
                event.source,
                event.gitops_commit,
                verified=False,
                at=event.occurred_at,
            )
        case DeploymentVerified():
            names = [env.name for env in project.environments if clusters.get(env.name)]
            verified_in = [name for name in names if clusters[name] == event.cluster]
            if len(verified_in) != 1 or event.service not in project.services:
                return None  # environments sharing one cluster cannot be told apart
            return Landed(
                verified_in[0],
                event.service,
                event.image,
                event.source,
                event.gitops_commit,
                verified=True,
                at=event.occurred_at,
            )
    return None


def _committed_to(project: Project, event: ManifestCommitted) -> str | None:
    for environment in project.environments:
        branch = project.gitops_for(environment.name).branch
        path = project.manifest_path(event.service, environment.name)
        if path == event.manifest_path and branch == event.branch:
            return environment.name
    return None


def promotion_request(landed: Landed, target: Environment) -> PromotionRequested:
    """The PromotionRequested of `landed` to `target`, with ids a redelivery repeats."""
    key = ":".join((landed.source.repository, landed.gitops_commit, landed.service, target.name))
    event_id = uuid.uuid5(_NAMESPACE, key)
    how = "verified healthy" if landed.verified else "committed"
    return PromotionRequested(
        event_id=event_id,
        run_id=f"{RUN_PREFIX}{event_id.hex[:24]}",
        occurred_at=landed.at,
        repository=landed.source.repository,
        services=(landed.service,),
        environment=target.name,
        requested_by=REQUESTED_BY,
        reason=(
            f"{landed.image} {how} in {landed.environment} (gitops {landed.gitops_commit[:12]})"
        )[:500],
    )

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
from services.common.rollout_environment import Rollout, environments_of

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
    if getattr(event, "rollback_of", "") or getattr(event, "service", None) not in project.services:
        return None
    match event:
        case ManifestCommitted() if event.cluster is None:  # with one, its verification lands
            if event.old_image == event.new_image:
                return None  # nothing new landed
            name = _written(project, event)
            image, verified = event.new_image, False
        case DeploymentVerified():
            name = _verified_in(project, event, clusters)
            image, verified = event.image, True
        case _:
            return None
    if name is None:
        return None
    return Landed(
        name,
        event.service,
        image,
        event.source,
        event.gitops_commit,
        verified=verified,
        at=event.occurred_at,
    )


def _written(project: Project, event: ManifestCommitted) -> str | None:
    """The environment whose manifest of the service is the one the commit wrote, in the
    gitops repository and on the branch it went to."""
    written = environments_of(project, Rollout.of(event))
    return written[0] if written else None


def _verified_in(
    project: Project, event: DeploymentVerified, clusters: Mapping[str, str | None]
) -> str | None:
    """By the manifest the verified commit wrote; for a verifier that did not say (an event
    from before it did), by the cluster, when no other environment is verified there."""
    in_cluster = [
        env.name for env in project.environments if clusters.get(env.name) == event.cluster
    ]
    if event.manifest_path:
        written = environments_of(project, Rollout.of(event))
        if len(written) > 1:  # a verifier that did not name the branch: the cluster tells
            written = [name for name in written if name in in_cluster]
        return written[0] if len(written) == 1 else None
    return in_cluster[0] if len(in_cluster) == 1 else None


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

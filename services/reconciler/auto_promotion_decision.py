"""Which auto-promotions git says are owed, whatever Redis has lost. Pure.

`approval: auto` asks for a promotion when the landing's event reaches the notifier
(services/common/auto_promotion.py), and a soaking one waits in Redis. A wipe loses both the
soaking entry and, maybe, the landing's event. Git still says it: the source environment's
manifest holds an image whose newest change is a Shipline deploy (its `Shipline-Deployed`
trailer), committed at a known time, that the target environment's manifest does not hold.
Each such image is owed to the target as the same PromotionRequested the landing would have
asked for (promotion_request: ids from the landing's gitops commit, service and target), so
the notifier's and this one are one promotion, deduped by the event log and by the
committer's `Shipline-Request` trailer.

Never owed: a service pinned in the target; one whose source change is a rollback (no new
version to move forward); one the target holds the same image (or digest) of already. What
Redis still records holds the rest (auto_promotion_sweep.py): a landing whose run did not
end healthy (failed verification, still verifying), a promotion of the same id already
asked for (soaking, published, its run recorded: refused, blocked, rejected or done).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from services.common.auto_promotion import AutoPromotion, Landed, promotion_request
from services.common.events import Source
from services.common.project import Project

ROLLBACK_SUBJECT = "revert("  # services/committer/messages.py rollback_message


@dataclass(frozen=True)
class InGit:
    """A service in one environment, as its gitops branch's head has it."""

    image: str | None  # the manifest's image (None: no manifest, or unreadable)
    pinned: bool = False
    # the newest change to the manifest, when it is a Shipline deploy of the service here
    landing: GitLanding | None = None


@dataclass(frozen=True)
class GitLanding:
    gitops_commit: str
    source: Source  # the trailer's repository and commit
    committed_at: float  # seconds since the epoch (the soak counts from here)
    subject: str


@dataclass(frozen=True)
class Owed:
    promotion: AutoPromotion
    due_at: float
    landing_commit: str  # the gitops commit that landed it in the source environment
    landed_at: float  # that commit's time


def owed_promotions(
    project: Project,
    in_git: Mapping[str, Mapping[str, InGit]],
    clusters: Mapping[str, str | None],
) -> list[Owed]:
    """`in_git`: environment → service → what its branch holds; `clusters`: each
    environment's cluster (a landing in one with a cluster was verified there)."""
    owed: list[Owed] = []
    for target in project.environments:
        if target.approval != "auto" or target.source is None:
            continue
        source, there = in_git.get(target.source, {}), in_git.get(target.name, {})
        for service, running in sorted(source.items()):
            landing = running.landing
            if landing is None or running.image is None:
                continue
            if landing.subject.startswith(ROLLBACK_SUBJECT):
                continue
            now_there = there.get(service)
            if now_there is None or now_there.pinned or _same(now_there.image, running.image):
                continue
            landed = Landed(
                target.source,
                service,
                running.image,
                landing.source,
                landing.gitops_commit,
                verified=clusters.get(target.source) is not None,
                at=datetime.fromtimestamp(landing.committed_at, tz=UTC),
            )
            request = promotion_request(landed, target)
            owed.append(
                Owed(
                    AutoPromotion(request, target.soak_seconds),
                    landing.committed_at + target.soak_seconds,
                    landing.gitops_commit,
                    landing.committed_at,
                )
            )
    return owed


def _same(image: str | None, other: str) -> bool:
    """The same image, or the same digest under another spelling."""
    if image is None:
        return False
    if image == other:
        return True
    digest, other_digest = _digest(image), _digest(other)
    return digest is not None and digest == other_digest


def _digest(image: str) -> str | None:
    _, at, digest = image.partition("@")
    return digest if at and digest.startswith("sha256:") else None

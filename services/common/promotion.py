"""Whether a service can be promoted, from what the source and target environments run: the
rules the committer applies on the gitops head and the gateway on the view of it
(services/common/environment_view.py). Pure."""

from __future__ import annotations

from dataclasses import dataclass

from services.common.environment_view import Running


@dataclass(frozen=True)
class Promote:
    image: str  # the source environment's image, written as it is (same tag, same digest)
    repository: str  # the source repository and commit it was built from
    commit: str


@dataclass(frozen=True)
class Already:
    image: str  # the target runs it already: nothing to write


@dataclass(frozen=True)
class Refused:
    reason: str


Decision = Promote | Already | Refused


def decide_promotion(
    service: str, source_environment: str, target_environment: str, source: Running, target: Running
) -> Decision:
    if source.why_not is not None or not (source.image and source.repository and source.commit):
        why = source.why_not or "no deploy recorded"
        return Refused(f"{source_environment} runs nothing promotable for {service}: {why}")
    if target.pinned:
        return Refused(
            f"{service} is pinned in {target_environment} (a rollback holds it): "
            f"`shipline unpin {service} -e {target_environment}` first"
        )
    if target.image == source.image:
        return Already(source.image)
    return Promote(source.image, source.repository, source.commit)

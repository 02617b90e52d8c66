"""Which environment a rollout is in: the one whose manifest of the service is the path the
gitops commit wrote, committed to the gitops repository and branch the commit went to. Pure.

The path alone is not enough: two environments may write the same path (no `{environment}`
in it) in different gitops repositories or branches, and production's failed rollout must
never be rolled back in staging, nor production landing be taken for staging landing.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.common.errors import PermanentError
from services.common.project import Project


@dataclass(frozen=True)
class Rollout:
    service: str
    source_repository: str  # the gitops repository of an environment without its own
    manifest_path: str
    gitops_repository: str = ""  # "": not known (an event from before it was said)
    branch: str = ""  # "": not known


def environments_of(project: Project, rollout: Rollout) -> list[str]:
    """Every environment the rollout may be in, in shipline.yaml's order."""
    return [env.name for env in project.environments if _writes(project, env.name, rollout)]


def _writes(project: Project, environment: str, rollout: Rollout) -> bool:
    if project.manifest_path(rollout.service, environment) != rollout.manifest_path:
        return False
    gitops = project.gitops_for(environment)
    repository = gitops.repository or rollout.source_repository
    if rollout.gitops_repository and repository != rollout.gitops_repository:
        return False
    return not rollout.branch or gitops.branch == rollout.branch


def failed_environment(project: Project, rollout: Rollout) -> str | None:
    """The environment an automatic rollback of `rollout` acts in (None: a project without
    environments, or a rollout from a verifier that named no manifest: the first one);
    PermanentError when no environment writes there."""
    if not project.environments or not rollout.manifest_path:
        return None
    found = environments_of(project, rollout)
    if not found:
        where = " ".join(filter(None, (rollout.gitops_repository, rollout.branch)))
        raise PermanentError(
            f"not rolled back: no environment writes {rollout.manifest_path} of "
            f"{rollout.service}" + (f" in {where}" if where else "")
        )
    return found[0]

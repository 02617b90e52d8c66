"""Which environment a rollout is in: the one whose manifest of the service is the path the
gitops commit wrote, committed to the gitops repository and branch the commit went to. Pure.

The path alone is not enough: two environments may write the same path (no `{environment}`
in it) in different gitops repositories or branches, and production's failed rollout must
never be rolled back in staging, nor production landing be taken for staging landing.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.common.errors import PermanentError
from services.common.events import DeploymentFailed, DeploymentVerified, ManifestCommitted
from services.common.project import Project


@dataclass(frozen=True)
class Rollout:
    service: str
    source_repository: str  # the gitops repository of an environment without its own
    manifest_path: str
    gitops_repository: str = ""  # "": not known (an event from before it was said)
    branch: str = ""  # "": not known

    @classmethod
    def of(cls, event: ManifestCommitted | DeploymentVerified | DeploymentFailed) -> Rollout:
        """The rollout a commit, or the verifier's verdict on it, is about."""
        return cls(
            service=event.service,
            source_repository=event.source.repository,
            manifest_path=event.manifest_path,
            gitops_repository=event.gitops_repository,
            branch=event.branch,
        )


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


def only_environment(project: Project, rollout: Rollout) -> str | None:
    """The one environment the rollout is in; None: no environment writes there, or more
    than one may (a verifier that named no branch), or no manifest was named."""
    if not rollout.manifest_path:
        return None
    found = environments_of(project, rollout)
    return found[0] if len(found) == 1 else None


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

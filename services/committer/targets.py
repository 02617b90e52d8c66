"""Where a write goes: the source repository and its shipline.yaml at a commit, and the
gitops repository and branch that shipline.yaml names, resolved from the settings."""

from __future__ import annotations

from dataclasses import dataclass

from services.common.errors import PermanentError
from services.common.git import Mirror
from services.common.git_auth import git_env
from services.common.git_checkout import Checkout
from services.common.mirrors import mirror_of, project_at
from services.common.project import PROJECT_FILE, Project, ServiceSpec
from services.common.settings import GitopsRepository, Repository, Settings


@dataclass(frozen=True)
class Target:
    """Where one write goes: the source repository and its shipline.yaml, and the gitops branch."""

    source: Repository
    commit: str  # the source commit shipline.yaml was read at
    project: Project
    mirror: Mirror
    gitops: Repository | GitopsRepository
    checkout: Checkout

    def spec(self, service: str) -> ServiceSpec:
        spec = self.project.services.get(service)
        if spec is None:
            raise PermanentError(f"service {service} is not in {PROJECT_FILE}")
        return spec


def find_target(settings: Settings, repository: str, commit: str) -> Target:
    source = configured_source(settings, repository)
    mirror = mirror_of(settings, source)
    mirror.fetch(unless_present=commit)
    project = project_at(mirror, source.name, commit, settings.limits.project_file_bytes)
    gitops: Repository | GitopsRepository = source
    if project.gitops.repository:
        remote = settings.git_remote(project.gitops.repository)
        if remote is None:
            raise PermanentError(
                f"gitops repository {project.gitops.repository} is not configured "
                "(repositories or gitops_repositories)"
            )
        gitops = remote
    checkout = Checkout(
        gitops.url,
        project.gitops.branch,
        settings.workdir / "gitops",
        env=git_env(gitops.credentials, settings.workdir / "keys"),
    )
    return Target(source, commit, project, mirror, gitops, checkout)


def configured_source(settings: Settings, name: str) -> Repository:
    repo = settings.repository(name)
    if repo is None:
        raise PermanentError(f"repository {name} is not configured")
    return repo

"""Where a write goes: the source repository and its shipline.yaml at a commit, and the
gitops repository and branch that shipline.yaml names, resolved from the settings."""

from __future__ import annotations

from dataclasses import dataclass

from services.common.errors import PermanentError
from services.common.git import Mirror
from services.common.git_auth import git_env
from services.common.git_checkout import Checkout
from services.common.project import PROJECT_FILE, Project, ServiceSpec, parse_project
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
    mirror = open_mirror(settings, source)
    mirror.fetch(unless_present=commit)
    text = mirror.read_file(commit, PROJECT_FILE)
    if text is None:
        raise PermanentError(f"{PROJECT_FILE} is missing at {commit[:7]}")
    project = parse_project(text, origin=f"{source.name}@{commit[:7]}:{PROJECT_FILE}")
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


def open_mirror(settings: Settings, repo: Repository) -> Mirror:
    env = git_env(repo.credentials, settings.workdir / "keys")
    return Mirror(repo.url, settings.workdir / "mirrors", env=env)

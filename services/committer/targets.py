"""Where a write goes: the source repository and its shipline.yaml at a commit, and the
gitops repository and branch that shipline.yaml names, resolved from the settings.

The flows ask a `Targets` for them, so the git they work on (the source mirror, the gitops
checkout) is handed in: `ConfiguredTargets` is the real one, built from the settings."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Protocol

from services.common.errors import PermanentError
from services.common.git import Mirror
from services.common.git_auth import git_env
from services.common.git_checkout import Checkout
from services.common.mirrors import mirror_of, project_at
from services.common.project import PROJECT_FILE, GitOps, Project, ServiceSpec
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
    cluster: str | None = None  # the cluster that verifies commits to this gitops branch
    # builds the checkout of another gitops repository or branch (None: only this one)
    settings: Settings | None = field(default=None, repr=False, compare=False)

    def for_environment(self, name: str | None) -> Target:
        """The same write aimed at `name`'s gitops repository and branch (its own `gitops:`,
        else the project's): this target when they are the same, else one with that
        checkout, its configured remote's credentials and the cluster serving it."""
        wanted = self.project.gitops_for(name)
        repository = wanted.repository or self.source.name
        if (repository, wanted.branch) == (self.gitops.name, self.checkout.branch):
            return self
        if self.settings is None:
            raise PermanentError(f"no settings to reach {repository} {wanted.branch}")
        gitops, checkout, cluster = gitops_place(self.settings, self.source, wanted)
        return replace(self, gitops=gitops, checkout=checkout, cluster=cluster)

    def spec(self, service: str) -> ServiceSpec:
        spec = self.project.services.get(service)
        if spec is None:
            raise PermanentError(f"service {service} is not in {PROJECT_FILE}")
        return spec


class Targets(Protocol):
    def find(self, repository: str, commit: str) -> Target:
        """Where a write of `repository` at `commit` goes (its shipline.yaml at that commit)."""
        ...

    def head(self, repository: str) -> str:
        """The head commit of the repository's default branch, fetched now."""
        ...


class ConfiguredTargets:
    """Targets of the configured repositories: mirrors and checkouts under the work dir."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def find(self, repository: str, commit: str) -> Target:
        return find_target(self._settings, repository, commit)

    def head(self, repository: str) -> str:
        source = configured_source(self._settings, repository)
        mirror = mirror_of(self._settings, source)
        mirror.fetch()
        head = mirror.resolve(f"refs/heads/{source.default_branch}")
        if head is None:
            raise PermanentError(f"{source.name} has no branch {source.default_branch}")
        return head


def find_target(settings: Settings, repository: str, commit: str) -> Target:
    source = configured_source(settings, repository)
    mirror = mirror_of(settings, source)
    mirror.fetch(unless_present=commit)
    project = project_at(mirror, source.name, commit, settings.limits.project_file_bytes)
    gitops, checkout, cluster = gitops_place(settings, source, project.gitops)
    return Target(source, commit, project, mirror, gitops, checkout, cluster, settings)


def gitops_place(
    settings: Settings, source: Repository, wanted: GitOps
) -> tuple[Repository | GitopsRepository, Checkout, str | None]:
    """The configured remote of a gitops repository (None: the source's own), its checkout
    of `wanted.branch`, and the name of the cluster that serves that branch, if any."""
    gitops: Repository | GitopsRepository = source
    if wanted.repository:
        remote = settings.git_remote(wanted.repository)
        if remote is None:
            raise PermanentError(
                f"gitops repository {wanted.repository} is not configured "
                "(repositories or gitops_repositories)"
            )
        gitops = remote
    checkout = Checkout(
        gitops.url,
        wanted.branch,
        settings.workdir / "gitops",
        env=git_env(gitops.credentials, settings.workdir / "keys"),
    )
    cluster = settings.cluster_for(gitops.name, checkout.branch)
    return gitops, checkout, cluster.name if cluster else None


def configured_source(settings: Settings, name: str) -> Repository:
    repo = settings.repository(name)
    if repo is None:
        raise PermanentError(f"repository {name} is not configured")
    return repo

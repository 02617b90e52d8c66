"""Which checks the settings call for, in two rounds: what needs nothing else (Redis, the
engine, Trivy, reading each repository and its shipline.yaml), then what the shipline.yaml
files name (the registries pushed to, the gitops branches written)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from services.common.git_auth import git_env
from services.common.project import PROJECT_FILE, Project
from services.common.registry_auth import registry_login, split_repository
from services.common.repository_settings import GitopsRepository, Repository
from services.common.settings import Settings
from services.doctor import docker_check, git_check, project_check, redis_check, trivy_check
from services.doctor.registry_check import RegistryTarget, judge_registry, probe_registry
from services.doctor.result import CheckResult, fail, warn
from services.doctor.runner import Check, run_checks

FAST_TIMEOUT = 5.0
CLONE_TIMEOUT = 120.0  # the first run clones each repository into the mirror cache
_ORDER = ("redis", "intake", "docker", "buildkit", "registry", "trivy", "repository", "gitops")


@dataclass(frozen=True)
class GitopsTarget:
    name: str  # as shipline.yaml names it (or the repository itself)
    remote: Repository | GitopsRepository | None  # None: not configured
    branch: str | None  # None: the branch its HEAD names


def fast_checks(settings: Settings) -> list[Check]:
    """What `shipline up` runs at start: no clone, no push probe, a few seconds at most."""
    return [
        _redis(settings),
        Check("docker engine", lambda: _engine(settings), FAST_TIMEOUT),
        Check("trivy", lambda: _trivy(settings), FAST_TIMEOUT * 2),
        *_registries(settings, registry_targets(settings, {}), push=False),
    ]


def run_doctor(settings: Settings) -> list[CheckResult]:
    projects: dict[str, Project] = {}
    first = [
        _redis(settings),
        Check("docker engine", lambda: _engine(settings), FAST_TIMEOUT),
        Check("trivy", lambda: _trivy(settings), FAST_TIMEOUT * 2),
        *[_repository(settings, repo, projects) for repo in settings.repositories],
    ]
    results = run_checks(first) + _configured(settings)
    second = [
        *_registries(settings, registry_targets(settings, projects), push=True),
        *[_gitops(settings, target) for target in gitops_targets(settings, projects)],
    ]
    return in_order(results + run_checks(second))


def in_order(results: Sequence[CheckResult]) -> list[CheckResult]:
    """Grouped by component (stable within one): Redis first, shipline.yaml files last."""

    def rank(result: CheckResult) -> int:
        first_word = result.name.split()[0]
        return next((i for i, word in enumerate(_ORDER) if first_word == word), len(_ORDER))

    return sorted(results, key=rank)


# --- what to check, from the settings and the projects (pure) ------------------------------


def registry_targets(settings: Settings, projects: Mapping[str, Project]) -> list[RegistryTarget]:
    """Every registry host the settings or a shipline.yaml names, with the image repositories
    Shipline pushes to there."""
    found: dict[str, tuple[str, list[str]]] = {}

    def add(host: str, repository: str | None = None) -> None:
        _, repositories = found.setdefault(host.lower(), (host, []))
        if repository and repository not in repositories:
            repositories.append(repository)

    for host in settings.registry_auth:
        add(host)
    for repo in settings.repositories:
        for prefix in repo.image_registries or []:
            add(prefix.split("/", 1)[0])
    for project in projects.values():
        for service in project.services:
            add(*split_repository(project.image_repository(service)))
    return [
        RegistryTarget(host, tuple(repos), registry_login(settings, f"{host}/x"))
        for host, repos in found.values()
    ]


def gitops_targets(settings: Settings, projects: Mapping[str, Project]) -> list[GitopsTarget]:
    """The branches the committer writes (per shipline.yaml: every environment's), then every
    configured gitops repository no shipline.yaml that could be read names (at its HEAD
    branch)."""
    targets: dict[tuple[str, str | None], GitopsTarget] = {}
    for repository, project in projects.items():
        for environment in [None, *(env.name for env in project.environments)]:
            gitops = project.gitops_for(environment)  # an environment's own, else the project's
            name, branch = gitops.repository or repository, gitops.branch
            remote = settings.git_remote(name)
            targets.setdefault((name, branch), GitopsTarget(name, remote, branch))
    named = {name for name, _ in targets}
    for remote in settings.gitops_repositories:
        if remote.name not in named:
            targets[(remote.name, None)] = GitopsTarget(remote.name, remote, None)
    return list(targets.values())


def _configured(settings: Settings) -> list[CheckResult]:
    if settings.repositories:
        return []
    return [
        warn(
            "repository (none)",
            "no repositories are configured: every webhook is refused",
            "add repositories (name, url, webhook_secret) to the settings (docs/settings.md)",
        )
    ]


# --- the checks ----------------------------------------------------------------------------


def _redis(settings: Settings) -> Check:
    if settings.redis_url:
        url = settings.redis_url
        return Check("redis", lambda: redis_check.judge_redis(redis_check.probe_url(url)))

    def embedded() -> list[CheckResult]:
        binary, facts = redis_check.probe_embedded()
        return redis_check.judge_redis(facts, embedded_binary=binary or "no server")

    return Check("redis (embedded)", embedded, 20.0, "see why the server does not start")


def _engine(settings: Settings) -> list[CheckResult]:
    facts = docker_check.probe_engine(FAST_TIMEOUT)
    return docker_check.judge_engine(facts, settings.builder.backend)


def _trivy(settings: Settings) -> list[CheckResult]:
    scanner = settings.scanner
    facts = trivy_check.probe_trivy(scanner, settings.workdir, FAST_TIMEOUT)
    cache = trivy_check.cache_dir(scanner, settings.workdir)
    return trivy_check.judge_trivy(facts, scanner, cache, datetime.now(UTC))


def _registries(
    settings: Settings, targets: Sequence[RegistryTarget], *, push: bool
) -> list[Check]:
    insecure = settings.builder.insecure_registries

    def check(target: RegistryTarget) -> Callable[[], list[CheckResult]]:
        def run() -> list[CheckResult]:
            facts = probe_registry(target, insecure_hosts=insecure, push=push, timeout=FAST_TIMEOUT)
            return judge_registry(facts, target.repositories if push else ())

        return run

    return [Check(f"registry {target.host}", check(target), FAST_TIMEOUT * 3) for target in targets]


def _repository(settings: Settings, repo: Repository, projects: dict[str, Project]) -> Check:
    def run() -> list[CheckResult]:
        env = git_env(repo.credentials, settings.workdir / "keys")
        facts = git_check.probe_remote(repo.url, repo.default_branch, env, timeout=30.0)
        key = f"repositories[{repo.name}]"
        read = git_check.judge_read(f"repository {repo.name}", facts, key)
        name = f"{PROJECT_FILE} {repo.name}@{repo.default_branch}"
        if facts.head is None or read.status != "ok":
            return [read]
        found = project_check.probe_project(settings, repo, facts.head)
        if found.project is not None:
            projects[repo.name] = found.project
        return [read, project_check.judge_project(name, found, facts.head)]

    return Check(f"repository {repo.name}", run, CLONE_TIMEOUT)


def _gitops(settings: Settings, target: GitopsTarget) -> Check:
    name = f"gitops {target.name}" + (f"@{target.branch}" if target.branch else "")
    remote = target.remote

    def run() -> list[CheckResult]:
        nonlocal name
        if remote is None:
            return [
                fail(
                    name,
                    f"{PROJECT_FILE} names gitops repository {target.name}: not configured",
                    "add it to gitops_repositories (name, url, credentials) in the settings",
                )
            ]
        env = git_env(remote.credentials, settings.workdir / "keys")
        facts = git_check.probe_remote(remote.url, target.branch, env, push=True, timeout=30.0)
        if target.branch is None and facts.branch:
            name = f"{name}@{facts.branch}"  # the branch HEAD names
        kind = "repositories" if isinstance(remote, Repository) else "gitops_repositories"
        return [git_check.judge_push(name, facts, f"{kind}[{remote.name}]")]

    return Check(name, run, 40.0)

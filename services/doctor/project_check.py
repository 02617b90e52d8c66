"""Each repository's shipline.yaml at its default branch, read the way every stage reads it
(services/common/mirrors.py: the shared mirror, fetched with the repository's credentials,
the size limit), so the first push does not find out.

The first run clones the repository into the mirror cache under the work dir, as the
stages would on the first push; later runs fetch only what is new.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from services.common.errors import ShiplineError
from services.common.git import Mirror
from services.common.mirrors import mirror_of, project_at
from services.common.project import PROJECT_FILE, Project
from services.common.repository_settings import Repository
from services.common.settings import Settings
from services.doctor.result import CheckResult, fail, ok

VALIDATE_MODULE = "services.common.project_checks"  # `shipline validate`'s checks


@dataclass(frozen=True)
class ProjectFacts:
    project: Project | None = None
    error: str | None = None  # could not fetch, read or parse it
    problems: tuple[str, ...] = ()  # what `shipline validate`'s checks found at the commit


# --- adapter -------------------------------------------------------------------------------


def probe_project(settings: Settings, repo: Repository, commit: str) -> ProjectFacts:
    mirror = mirror_of(settings, repo)
    try:
        mirror.fetch(unless_present=commit)
        project = project_at(mirror, repo.name, commit, settings.limits.project_file_bytes)
    except ShiplineError as exc:
        return ProjectFacts(error=str(exc))
    return ProjectFacts(project, problems=tuple(validation_problems(mirror, repo, commit, project)))


def validation_problems(
    mirror: Mirror, repo: Repository, commit: str, project: Project
) -> list[str]:
    """SEAM: what `shipline validate` finds at the commit (every path, manifest, container
    exists...), from services/common/project_checks.py once it lands; nothing until then."""
    try:
        module = importlib.import_module(VALIDATE_MODULE)
    except ImportError:
        return []
    check: Callable[..., list[str]] | None = getattr(module, "problems_at_commit", None)
    if check is None:
        return []
    return [str(problem) for problem in check(mirror, commit, project)]


# --- what the facts mean -----------------------------------------------------------------


def judge_project(name: str, facts: ProjectFacts, commit: str) -> CheckResult:
    fix = f"correct {PROJECT_FILE} on the default branch (`shipline validate` checks it locally)"
    if facts.error is not None:
        return fail(name, facts.error, fix)
    if facts.problems:
        more = f" (and {len(facts.problems) - 1} more)" if len(facts.problems) > 1 else ""
        return fail(name, f"{facts.problems[0]}{more}", fix)
    assert facts.project is not None
    project = facts.project
    gitops = f"{project.gitops.repository or 'this repository'}@{project.gitops.branch}"
    count = len(project.services)
    return ok(
        name,
        f"at {commit[:7]}: {count} service{'s' if count != 1 else ''}, images in "
        f"{project.registry}, manifests in {gitops}",
    )

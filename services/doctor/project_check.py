"""Each repository's shipline.yaml at its default branch, read the way every stage reads it
(services/common/mirrors.py: the shared mirror, fetched with the repository's credentials,
the size limit), then checked against its tree as `shipline validate` checks a working tree
(services/common/project_checks.py: every path, Dockerfile and manifest exists and takes the
image), so the first push does not find out.

The first run clones the repository into the mirror cache under the work dir, as the
stages would on the first push; later runs fetch only what is new.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.common.errors import ShiplineError
from services.common.mirrors import mirror_of, project_at
from services.common.project import PROJECT_FILE, Project
from services.common.project_checks import ProjectProblem, problems_at_commit
from services.common.repository_settings import Repository
from services.common.settings import Settings
from services.doctor.result import CheckResult, fail, ok


@dataclass(frozen=True)
class ProjectFacts:
    project: Project | None = None
    error: str | None = None  # could not fetch, read or parse it
    problems: tuple[ProjectProblem, ...] = ()  # what `shipline validate` finds at the commit


# --- adapter -------------------------------------------------------------------------------


def probe_project(settings: Settings, repo: Repository, commit: str) -> ProjectFacts:
    mirror = mirror_of(settings, repo)
    limit = settings.limits.project_file_bytes
    try:
        mirror.fetch(unless_present=commit)
        project = project_at(mirror, repo.name, commit, limit)
        problems = problems_at_commit(mirror, commit, repository=repo.name, max_bytes=limit)
    except ShiplineError as exc:
        return ProjectFacts(error=str(exc))
    return ProjectFacts(project, problems=tuple(problems))


# --- what the facts mean -----------------------------------------------------------------


def judge_project(name: str, facts: ProjectFacts, commit: str) -> CheckResult:
    fix = f"correct {PROJECT_FILE} on the default branch (`shipline validate` checks it locally)"
    if facts.error is not None:
        return fail(name, facts.error, fix)
    if facts.problems:
        first = facts.problems[0]
        where = f"{first.key}: " if first.key else ""
        more = f" (and {len(facts.problems) - 1} more)" if len(facts.problems) > 1 else ""
        return fail(name, f"at {commit[:7]}: {where}{first.problem}{more}", first.fix or fix)
    assert facts.project is not None
    project = facts.project
    gitops = f"{project.gitops.repository or 'this repository'}@{project.gitops.branch}"
    count = len(project.services)
    return ok(
        name,
        f"at {commit[:7]}: {count} service{'s' if count != 1 else ''}, images in "
        f"{project.registry}, manifests in {gitops}",
    )

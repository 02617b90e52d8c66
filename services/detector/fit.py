"""The pushed commit checked against its own shipline.yaml before anything is built
(services/common/project_checks.py, what `shipline validate` runs on a working tree): a
wrong `path` fails the run here, with the line that says what to fix, instead of failing at
the build, or never building because no change lies under it.

Cost: the services a push builds are checked (their paths and manifests in one
`git ls-tree`; a manifest the push changed is read through one `git cat-file --batch` and
parsed once per content); every service, every manifest read, when the push changed
shipline.yaml or has nothing to compare with; and when a push builds nothing because no
service watches what it changed, every service's paths (no manifest is looked for).
"""

from __future__ import annotations

from collections.abc import Collection

from services.common.errors import PermanentError
from services.common.git import Mirror
from services.common.project import PROJECT_FILE, Project
from services.common.project_checks import ProjectProblem, check_project, manifests_here
from services.common.project_trees import CommitTree

MAX_LINES = 20  # StageFailed keeps 2,000 characters of the message


class ShiplineYamlMismatch(PermanentError):
    """shipline.yaml names paths or manifests the pushed commit does not have."""


def check_commit(
    mirror: Mirror,
    repository: str,
    commit: str,
    project: Project,
    services: Collection[str] | None,
    manifests: bool = True,
    max_bytes: int | None = None,
    changed: Collection[str] | None = None,
) -> None:
    """Raise ShiplineYamlMismatch listing the problems of `services` (None: all) at `commit`.

    `manifests`: False to look only at paths (when nothing is built, nothing is deployed).
    `changed`: the paths the push changed, when shipline.yaml is not one of them; then only
    the manifests among them are read, the others only have to exist (they and their entries
    are as they were at the base: parsing them again would say what it said then).
    """
    here = manifests and manifests_here(project, repository)
    read = None if changed is None else set(changed)
    with CommitTree(mirror, commit) as tree:
        problems = check_project(
            project, tree, services=services, manifests=here, max_bytes=max_bytes, read=read
        )
    if problems:
        raise ShiplineYamlMismatch(describe(problems, commit))


def describe(problems: list[ProjectProblem], commit: str) -> str:
    lines = [problem.line() for problem in problems[:MAX_LINES]]
    if len(problems) > MAX_LINES:
        lines.append(f"… and {len(problems) - MAX_LINES} more: `shipline validate` lists them all")
    header = (
        f"{PROJECT_FILE} does not fit commit {commit[:7]}, nothing was built "
        "(`shipline validate` checks the same before a push):"
    )
    return "\n".join([header, *lines])

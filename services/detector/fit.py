"""The pushed commit checked against its own shipline.yaml before anything is built
(services/common/project_checks.py, what `shipline validate` runs on a working tree): a
wrong `path` fails the run here, with the line that says what to fix, instead of failing at
the build, or never building because no change lies under it.

Cost: every path shipline.yaml names is listed by one `git ls-tree`, started as soon as
shipline.yaml is read, beside the diff that decides what to build (on the detection
benchmark's 200-service push, about 10 ms of git: the mapping's wall time goes from about
11 to 20-30 ms on a loaded machine). Then the services a push builds are checked; every
service, every manifest read, when the push changed shipline.yaml or has nothing to compare
with; otherwise only the manifests the push changed are read (the others are as they were
at the base). A manifest is read through one `git cat-file --batch` and parsed once per
content. When a push builds nothing because no service watches what it changed, every
service's paths are checked (no manifest is looked for).
"""

from __future__ import annotations

from collections.abc import Collection
from concurrent.futures import Future, ThreadPoolExecutor

from services.common.errors import PermanentError
from services.common.git import Mirror
from services.common.project import PROJECT_FILE, Project
from services.common.project_checks import (
    ProjectProblem,
    check_project,
    manifests_here,
    paths_checked,
)
from services.common.project_trees import CommitTree

MAX_LINES = 20  # StageFailed keeps 2,000 characters of the message


class ShiplineYamlMismatch(PermanentError):
    """shipline.yaml names paths or manifests the pushed commit does not have."""


class CommitCheck:
    """shipline.yaml checked against the commit it was read from; the listing starts at once."""

    def __init__(
        self,
        mirror: Mirror,
        repository: str,
        commit: str,
        project: Project,
        max_bytes: int | None = None,
    ) -> None:
        self.commit, self.project, self.max_bytes = commit, project, max_bytes
        self.manifests = manifests_here(project, repository)
        self.tree = CommitTree(mirror, commit)
        self._pool = ThreadPoolExecutor(max_workers=1)
        paths = paths_checked(project, manifests=self.manifests)
        self._listing: Future[None] = self._pool.submit(self.tree.preload, paths)

    def require(
        self,
        services: Collection[str] | None,
        manifests: bool = True,
        changed: Collection[str] | None = None,
    ) -> None:
        """Raise ShiplineYamlMismatch listing the problems of `services` (None: all).

        `manifests`: False to look only at paths (nothing built, nothing deployed).
        `changed`: the paths the push changed, when shipline.yaml is not among them: only
        the manifests among them are read, the others only have to exist.
        """
        self._listing.result()
        problems = check_project(
            self.project,
            self.tree,
            services=services,
            manifests=manifests and self.manifests,
            max_bytes=self.max_bytes,
            read=None if changed is None else set(changed),
        )
        if problems:
            raise ShiplineYamlMismatch(describe(problems, self.commit))

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self.tree.close()

    def __enter__(self) -> CommitCheck:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def describe(problems: list[ProjectProblem], commit: str) -> str:
    lines = [problem.line() for problem in problems[:MAX_LINES]]
    if len(problems) > MAX_LINES:
        lines.append(f"… and {len(problems) - MAX_LINES} more: `shipline validate` lists them all")
    header = (
        f"{PROJECT_FILE} does not fit commit {commit[:7]}, nothing was built "
        "(`shipline validate` checks the same before a push):"
    )
    return "\n".join([header, *lines])

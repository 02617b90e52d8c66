"""The pushed commit checked against its shipline.yaml before anything is built
(services/common/project_checks.py, what `shipline validate` runs on a working tree): a
wrong `path` fails the run here, with the line that says what to fix, instead of failing at
the build, or never building because no change lies under it.

Incremental. A commit whose whole project passed every check (every service's paths, every
manifest read) is recorded clean (CheckedCommits: Redis, a week). A push from a recorded
`before` that leaves shipline.yaml as it was can only have broken what its diff touches,
since every path the file names was there at `before`, as what it must be:

- a checked path at, above or under a path the push deleted or changed the type of (a
  folder whose last file went, a Dockerfile deleted, a directory replaced by a link);
- a manifest the push added, changed or retyped: read and checked again.

Only those are listed (one small `git ls-tree`) and read; usually there are none, and the
check costs no git process at all, just the record's look-up and the new record. A service
built because of a push cannot lack a path unless the push removed it, so services newly
built need nothing more (the diff's statuses come with the diff the detector runs anyway).
Everything else is checked whole, as `shipline validate` checks a tree: a `before` not
recorded (a first push, one after a failed check, a record expired), a change to
shipline.yaml, a release tag, a forced build, nothing to compare with. On the detection
benchmark's 200 services that is one `git ls-tree` of about 800 paths and 200 manifests
parsed once per content (see bench/README.md for the figures).

Which problems fail the run does not depend on how much was looked at: the services a push
builds (every service for a release or a shipline.yaml change), the global paths, and every
service's paths when a push builds nothing because no service watches what it changed. A
problem elsewhere fails nothing, but the commit is not recorded: the next push checks whole.
"""

from __future__ import annotations

import posixpath
from collections import defaultdict
from collections.abc import Collection, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

from services.common.errors import PermanentError
from services.common.events import ZERO_SHA
from services.common.git import Mirror
from services.common.project import PROJECT_FILE, Project
from services.common.project_checks import (
    ProjectProblem,
    check_project,
    manifests_here,
    paths_checked,
)
from services.common.project_trees import CommitTree
from services.detector.changes import TreeChanges

MAX_LINES = 20  # StageFailed keeps 2,000 characters of the message
CHECKS_VERSION = 1  # raise when a check changes: records made before vouch for nothing
_GLOBAL = ""  # the owner of global_paths (never a service name)


class ShiplineYamlMismatch(PermanentError):
    """shipline.yaml names paths or manifests the pushed commit does not have."""


class CheckedCommits(Protocol):
    """The commits whose whole project was checked clean under `conditions`."""

    def is_clean(self, repository: str, commit: str, conditions: str) -> bool: ...

    def mark_clean(self, repository: str, commit: str, conditions: str) -> None: ...


@dataclass(frozen=True)
class Recheck:
    """What a push from a clean commit must have checked again."""

    services: frozenset[str]
    global_paths: bool
    read: frozenset[str]  # the manifests to read, as shipline.yaml names them

    def empty(self) -> bool:
        return not (self.services or self.global_paths)


def recheck(project: Project, manifests: bool, changes: TreeChanges) -> Recheck | None:
    """What `changes` can have broken in a commit whose project was clean; None when
    shipline.yaml itself changed (everything)."""
    if PROJECT_FILE in changes.status:
        return None
    named = {name: project.manifest_path(name) for name in project.services} if manifests else {}
    read = {path for path in named.values() if changes.present(_normal(path))}
    services = {name for name, path in named.items() if path in read}
    hit: set[str] = set()
    gone = changes.removed()
    if gone:
        exact, below = _owners(project, manifests)
        for removed in gone:
            hit |= below.get(removed, set())
            for level in _above(removed):
                hit |= exact.get(level, set())
    return Recheck(frozenset(services | (hit - {_GLOBAL})), _GLOBAL in hit, frozenset(read))


def _owners(project: Project, manifests: bool) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Who checks each path (a service, or _GLOBAL), and each path's directories' checkers."""
    exact: dict[str, set[str]] = defaultdict(set)
    below: dict[str, set[str]] = defaultdict(set)
    global_paths = paths_checked(project, [], manifests)
    owned = [(_GLOBAL, path) for path in global_paths]
    for name in project.services:  # paths_checked lists the global paths first
        own = paths_checked(project, [name], manifests)[len(global_paths) :]
        owned += [(name, path) for path in own]
    for owner, path in owned:
        key = _normal(path)
        exact[key].add(owner)
        for level in _above(key):
            below[level].add(owner)
    return exact, below


def _normal(path: str) -> str:
    """A path as git lists it: `web/src/` → `web/src`, `.` → ''."""
    path = posixpath.normpath(path).strip("/")
    return "" if path == "." else path


def _above(path: str) -> Iterable[str]:
    """`a/b/c`, `a/b`, `a`, '' (the root)."""
    while path:
        yield path
        path = path.rpartition("/")[0]
    yield ""


class CommitCheck:
    """shipline.yaml checked against the commit it was read from, after `before`'s record.

    Without a record of `before` the whole listing starts at once, beside the diff.
    `records` None: nothing is recorded, every commit is checked whole.
    """

    def __init__(
        self,
        mirror: Mirror,
        repository: str,
        commit: str,
        project: Project,
        max_bytes: int | None = None,
        records: CheckedCommits | None = None,
        before: str | None = None,
    ) -> None:
        self.repository, self.commit, self.project = repository, commit, project
        self.max_bytes, self.records = max_bytes, records
        self.manifests = manifests_here(project, repository)
        self.conditions = f"v{CHECKS_VERSION} max_bytes={max_bytes}"
        self.tree = CommitTree(mirror, commit)
        self._found: list[ProjectProblem] | None = None
        self._listing: Future[None] | None = None
        self._pool: ThreadPoolExecutor | None = None
        self.base_clean = (
            records is not None
            and before not in (None, ZERO_SHA)
            and records.is_clean(repository, str(before), self.conditions)
        )
        if not self.base_clean:
            self._pool = ThreadPoolExecutor(max_workers=1)
            paths = paths_checked(project, manifests=self.manifests)
            self._listing = self._pool.submit(self.tree.preload, paths)

    def require(
        self,
        services: Collection[str] | None,
        manifests: bool = True,
        since_before: TreeChanges | None = None,
    ) -> None:
        """Raise ShiplineYamlMismatch listing the problems of `services` (None: all) and of
        the global paths. `manifests`: False to report only paths (nothing built, nothing
        deployed). `since_before`: the push's diff from `before` (incremental when `before`
        is recorded clean)."""
        problems = self.problems(since_before)
        reported = [p for p in problems if _concerns(p, services, manifests)]
        if reported:
            raise ShiplineYamlMismatch(describe(reported, self.commit))

    def carry(self, since_before: TreeChanges | None) -> None:
        """Record the commit clean when that is cheap (a clean `before`), reporting nothing:
        for a push that builds nothing and was never checked (the pipeline's own commits),
        so the next push still starts from a record."""
        if self.base_clean and since_before is not None:
            self.problems(since_before)

    def problems(self, since_before: TreeChanges | None = None) -> list[ProjectProblem]:
        """Everything wrong at the commit, all of it or what `since_before` could have
        broken since a clean `before`; the commit recorded clean when nothing is."""
        if self._found is None:
            plan = None
            if self.base_clean and since_before is not None:
                plan = recheck(self.project, self.manifests, since_before)
            self._found = self._whole() if plan is None else self._again(plan)
            if not self._found and self.records is not None:
                self.records.mark_clean(self.repository, self.commit, self.conditions)
        return self._found

    def _whole(self) -> list[ProjectProblem]:
        if self._listing is not None:
            self._listing.result()
        return self._check(None, None)

    def _again(self, plan: Recheck) -> list[ProjectProblem]:
        return [] if plan.empty() else self._check(plan.services, plan.read)

    def _check(
        self, services: Collection[str] | None, read: Collection[str] | None
    ) -> list[ProjectProblem]:
        return check_project(
            self.project,
            self.tree,
            services=services,
            manifests=self.manifests,
            max_bytes=self.max_bytes,
            read=read,
        )

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        self.tree.close()

    def __enter__(self) -> CommitCheck:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _concerns(problem: ProjectProblem, services: Collection[str] | None, manifests: bool) -> bool:
    """Whether a problem is one the run fails on (see the module's docstring)."""
    section, _, rest = problem.key.partition(".")
    if section != "services":
        return True
    name, _, key = rest.partition(".")
    return (services is None or name in services) and (manifests or key != "manifest")


def describe(problems: list[ProjectProblem], commit: str) -> str:
    lines = [problem.line() for problem in problems[:MAX_LINES]]
    if len(problems) > MAX_LINES:
        lines.append(f"… and {len(problems) - MAX_LINES} more: `shipline validate` lists them all")
    header = (
        f"{PROJECT_FILE} does not fit commit {commit[:7]}, nothing was built "
        "(`shipline validate` checks the same before a push):"
    )
    return "\n".join([header, *lines])

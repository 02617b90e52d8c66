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

Only those are listed (one small `git ls-tree`) and read. Usually there are none: the check
then costs no git process, only one Redis round trip that records `after` if `before` is
recorded (CheckedCommits.extend), about 0.5 ms on the detection benchmark. A service built
because of a push cannot lack a path unless the push removed it, so services newly built
need nothing more (the statuses come with the diff the detector runs anyway, `git diff
--name-status`). The `ignore` check depends on shipline.yaml alone.
Everything else is checked whole, as `shipline validate` checks a tree: a `before` not
recorded (a first push, one after a problem, a record expired, another CHECKS_VERSION or
size limit), a change to shipline.yaml, a release tag, a forced build, nothing to compare
with. On the benchmark's 200 services that is one `git ls-tree` of about 800 paths and 200
manifests parsed (about 0.5 s in a fresh worker; a worker parses each content once).

Which problems fail the run does not depend on how much was looked at: the services a push
builds (every service for a release or a shipline.yaml change), the global paths, and every
service's paths when a push builds nothing because no service watches what it changed. A
problem elsewhere fails nothing, but the commit is not recorded: the next push checks whole.
"""

from __future__ import annotations

import posixpath
import weakref
from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from functools import cached_property
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

    def extend(self, repository: str, before: str, after: str, conditions: str) -> bool:
        """Mark `after` clean if `before` is; whether it was (one round trip)."""
        ...


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
    read: set[str] = set()
    services: set[str] = set()
    for path, (spelt, names) in (_manifests_of(project) if manifests else {}).items():
        if changes.present(path):
            read.add(spelt)
            services |= names
    hit: set[str] = set()
    gone = changes.removed()
    if gone:
        exact, below = _owners(project, manifests)
        for removed in gone:
            hit |= below.get(removed, set())
            for level in _above(removed):
                hit |= exact.get(level, set())
    return Recheck(frozenset(services | (hit - {_GLOBAL})), _GLOBAL in hit, frozenset(read))


_MANIFESTS: dict[int, tuple[weakref.ref[Project], dict[str, tuple[str, set[str]]]]] = {}
_MAX_PROJECTS = 16


def _manifests_of(project: Project) -> dict[str, tuple[str, set[str]]]:
    """Each manifest as git lists it → as shipline.yaml names it, and its services; worked
    out once per Project (immutable, and the same object for the same shipline.yaml text)."""
    cached = _MANIFESTS.get(id(project))
    if cached is not None and cached[0]() is project:
        return cached[1]
    found: dict[str, tuple[str, set[str]]] = {}
    for name in project.services:
        for spelt in project.manifest_paths(name, "branch"):  # as check_project reads them
            found.setdefault(_normal(spelt), (spelt, set()))[1].add(name)
    if len(_MANIFESTS) >= _MAX_PROJECTS:
        _MANIFESTS.pop(next(iter(_MANIFESTS)))
    _MANIFESTS[id(project)] = (weakref.ref(project), found)
    return found


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
    """shipline.yaml checked against the commit it was read from, from `before`'s record.

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
        self.before = None if before == ZERO_SHA else before
        self.manifests = manifests_here(project, repository)
        self.conditions = f"v{CHECKS_VERSION} max_bytes={max_bytes}"
        self._mirror = mirror
        self._found: list[ProjectProblem] | None = None

    @cached_property
    def tree(self) -> CommitTree:
        """The commit, read only when something is to be checked."""
        return CommitTree(self._mirror, self.commit)

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
        if self._found is None:
            self._found = self._incremental(since_before)

    def problems(self, since_before: TreeChanges | None = None) -> list[ProjectProblem]:
        """Everything wrong at the commit, all of it or what `since_before` could have
        broken since a clean `before`; the commit recorded clean when nothing is."""
        if self._found is None:
            self._found = self._incremental(since_before)
        if self._found is None:
            self._found = self._check(None, None)
            if not self._found and self.records is not None:
                self.records.mark_clean(self.repository, self.commit, self.conditions)
        return self._found

    def _incremental(self, since_before: TreeChanges | None) -> list[ProjectProblem] | None:
        """The problems `since_before` could have caused, the commit recorded clean when
        there are none; None when `before` is not recorded clean, or shipline.yaml changed."""
        if self.records is None or self.before is None or since_before is None:
            return None
        plan = recheck(self.project, self.manifests, since_before)
        if plan is None:
            return None
        where = (self.repository, self.before, self.commit, self.conditions)
        if plan.empty():  # the steady push: one round trip, no git
            return [] if self.records.extend(*where) else None
        if not self.records.is_clean(self.repository, self.before, self.conditions):
            return None
        found = self._check(plan.services, plan.read)
        if not found:
            self.records.mark_clean(self.repository, self.commit, self.conditions)
        return found

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
        if "tree" in self.__dict__:
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

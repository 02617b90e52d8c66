"""Which services a set of changed paths rebuilds, and which path caused each build.

Pure: the paths come from git, the rules from ``shipline.yaml``. An index over the
project turns each path into a dictionary look-up or two (the watchers of a directory are
worked out once, from its parent's), so a push touching thousands of files maps in a few
milliseconds whatever the number of services.
"""

from __future__ import annotations

import posixpath
import re
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import re2

from services.common.errors import ConfigError
from services.common.project import PROJECT_FILE, Entries, Project

Cause = Literal["paths", "dependency"]
MAX_REPORTED_PATHS = 100
NO_SERVICE_CHANGED = "no service changed"


def glob_regex(pattern: str) -> str:
    """A regex (RE2's syntax, and Python's) for an `ignore` glob, with .gitignore's rules.

    `*` and `?` stay inside one path segment, `**` spans any number of them; a pattern
    without '/' matches a file or directory name at any depth (`*.md`); anything else is
    anchored at the repository root (`docs/**`, `services/*/README.md`). A pattern that
    matches a directory matches everything inside it.
    """
    body = pattern.rstrip("/")
    parts, index = [], 0
    while index < len(body):
        if body.startswith("**/", index):
            parts.append("(?:.*/)?")
            index += 3
        elif body.startswith("**", index):
            parts.append(".*")
            index += 2
        elif body[index] == "*":
            parts.append("[^/]*")
            index += 1
        elif body[index] == "?":
            parts.append("[^/]")
            index += 1
        else:
            parts.append(re.escape(body[index]))
            index += 1
    anywhere = "" if "/" in body else "(?:.*/)?"
    return f"{anywhere}{''.join(parts)}(?:/.*)?"


def ignore_matcher(patterns: Sequence[str]) -> Callable[[str], bool] | None:
    """Whether a path matches any `ignore` glob, decided by RE2 in time linear in the path's
    length whatever the patterns (Python's `re` backtracks: `a**a**a**b` against a long
    name took minutes). A byte of a file name that is not UTF-8 (a lone surrogate, as git's
    output is decoded) goes in as '?', one character as before: patterns never hold a '?'
    that must match itself.
    """
    if not patterns:
        return None
    options = re2.Options()
    options.never_capture = True
    options.log_errors = False
    automaton = re2.Set.FullMatchSet(options)  # a Set answers "any match?" at half the cost
    try:
        automaton.Add("|".join(f"(?:{glob_regex(p)})" for p in patterns))
        automaton.Compile()
    except re2.error:
        raise ConfigError(f"{PROJECT_FILE}: ignore: the patterns are too large to match") from None

    def ignored(path: str) -> bool:
        return bool(automaton.Match(path.encode("utf-8", "replace")))

    return ignored


def _key(path: str) -> str:
    """A watched path as an index key: no trailing '/', the root as ''."""
    path = path.rstrip("/")
    return "" if path in ("", ".") else path


def _levels(path: str) -> Iterator[str]:
    """`a/b/c.txt`, `a/b`, `a`, then '' (the root)."""
    while path:
        yield path
        cut = path.rfind("/")
        path = path[:cut] if cut > 0 else ""
    yield ""


GLOBAL = ""  # the watcher name under which a global path is indexed (never a service name)


class PathIndex:
    """shipline.yaml's path rules, indexed by the directory or file they watch."""

    def __init__(self, project: Project, manifests_here: bool = True) -> None:
        self._watchers: dict[str, dict[str, Cause]] = {}
        self._by_directory: dict[str, Mapping[str, Cause]] = {}
        for name, spec in project.services.items():
            for dep in spec.depends_on:
                self._watch(dep, name, "dependency")
            dockerfile = spec.dockerfile or posixpath.join(spec.path, "Dockerfile")
            self._watch(dockerfile, name, "paths")  # counts even outside the service's path
            self._watch(spec.path, name, "paths")
        for path in project.global_paths:
            self._watch(path, GLOBAL, "dependency")
        # Every environment's here: a promotion's commit to a later one builds nothing.
        self._manifests = (
            {
                path
                for name in project.services
                for path in project.manifest_paths(name, "repository")
            }
            if manifests_here
            else set()
        )
        self._ignore = ignore_matcher(project.ignore)

    def _watch(self, path: str, service: str, cause: Cause) -> None:
        self._watchers.setdefault(_key(path), {})[service] = cause

    def sort(self, changed: Sequence[str]) -> Sorted:
        """One pass over a push's paths: set aside manifests and ignored paths, single out
        the paths a rule names exactly, and group the rest by directory (looked up once each).
        """
        manifests, exact, ignore = self._manifests, self._watchers, self._ignore
        result = Sorted()
        by_directory = result.by_directory
        for path in changed:
            if path in manifests:
                result.manifests += 1
            elif ignore is not None and ignore(path):
                result.ignored += 1
            elif path in exact or path == PROJECT_FILE:
                result.exact.append(path)
            else:
                cut = path.rfind("/")
                directory = path[:cut] if cut > 0 else ""
                files = by_directory.get(directory)
                if files is None:
                    by_directory[directory] = [path]
                else:
                    files.append(path)
        return result

    def is_ignored(self, path: str) -> bool:
        return self._ignore is not None and self._ignore(path)

    def is_global(self, path: str) -> bool:
        return any(GLOBAL in self._watchers.get(level, ()) for level in _levels(path))

    def watchers(self, path: str) -> Mapping[str, Cause]:
        """Who watches `path` or a directory above it; a global path shows as GLOBAL."""
        cut = path.rfind("/")
        above = self.directory_watchers(path[:cut] if cut > 0 else "")
        own = self._watchers.get(path)
        return {**above, **own} if own else above

    def directory_watchers(self, directory: str) -> Mapping[str, Cause]:
        """Watchers of a directory and those above it, worked out once per directory."""
        found = self._by_directory.get(directory)
        if found is not None:
            return found
        if directory:
            cut = directory.rfind("/")
            found = self.directory_watchers(directory[:cut] if cut > 0 else "")
        else:
            found = {}
        own = self._watchers.get(directory)
        if own:
            found = {**found, **own}  # a deeper rule wins
        self._by_directory[directory] = found  # shared with the parent when it adds nothing
        return found


_INDEXES: dict[tuple[int, bool], tuple[weakref.ref[Project], PathIndex]] = {}
_MAX_INDEXES = 16


def index_of(project: Project, manifests_here: bool = True) -> PathIndex:
    """The project's PathIndex, built once per Project (they are immutable, and parsing
    shipline.yaml hands out the same Project for the same text)."""
    key = (id(project), manifests_here)
    cached = _INDEXES.get(key)
    if cached is not None and cached[0]() is project:
        return cached[1]
    index = PathIndex(project, manifests_here)
    if len(_INDEXES) >= _MAX_INDEXES:
        _INDEXES.pop(next(iter(_INDEXES)))
    _INDEXES[key] = (weakref.ref(project), index)
    return index


@dataclass
class Sorted:
    """A push's paths as PathIndex.sort leaves them."""

    manifests: int = 0
    ignored: int = 0
    exact: list[str] = field(default_factory=list)
    by_directory: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Trigger:
    """Why one service is rebuilt: its own files (`paths`) or what it depends on."""

    own: list[str] = field(default_factory=list)
    dependencies: list[str] = field(default_factory=list)

    @property
    def reason(self) -> Cause:
        return "paths" if self.own else "dependency"

    def paths(self, shared: Sequence[str] = ()) -> tuple[str, ...]:
        """The paths that caused the build, its own first, each kind sorted; at most 100."""
        reported = sorted(self.own)[:MAX_REPORTED_PATHS]
        for more in (self.dependencies, shared):
            if len(reported) < MAX_REPORTED_PATHS:
                reported += sorted(more)[: MAX_REPORTED_PATHS - len(reported)]
        return tuple(reported)


@dataclass(frozen=True)
class Affected:
    """The services a push rebuilds; `shared` are global paths that rebuild all of them."""

    triggers: dict[str, Trigger]
    shared: tuple[str, ...] = ()


def affected(
    project: Project,
    changed: Sequence[str],
    previous: Sequence[Entries | None] = (),
    manifests_here: bool = True,
) -> Affected | str:
    """The services `changed` rebuilds, or why it rebuilds none.

    `previous` holds the shipline.yaml entries of each commit the push is compared with
    (None where there was no readable file); when shipline.yaml itself changed, a service
    whose entry differs from any of them is rebuilt, and with no previous file, all are.
    """
    index = index_of(project, manifests_here)
    paths = index.sort(changed)
    if changed and paths.manifests + paths.ignored == len(changed):
        if paths.manifests == len(changed):
            return "only manifest paths changed"
        return "only ignored paths changed"
    triggers: dict[str, Trigger] = {}
    shared: list[str] = []

    def hit(watching: Mapping[str, Cause], files: list[str]) -> None:
        if GLOBAL in watching:
            shared.extend(files)
            return
        for service, cause in watching.items():
            trigger = triggers.get(service) or triggers.setdefault(service, Trigger())
            (trigger.own if cause == "paths" else trigger.dependencies).extend(files)

    for path in paths.exact:
        if path == PROJECT_FILE:
            for service in entries_changed(project, previous):
                triggers.setdefault(service, Trigger()).own.append(path)
        hit(index.watchers(path), [path])
    for directory, files in paths.by_directory.items():
        hit(index.directory_watchers(directory), files)
    if shared:
        for service in project.services:
            triggers.setdefault(service, Trigger())
    if not triggers:
        return NO_SERVICE_CHANGED
    return Affected(triggers, tuple(shared))


def entries_changed(project: Project, previous: Sequence[Entries | None]) -> list[str]:
    """Services whose effective shipline.yaml entry (or the registry they push to) differs
    from before (services.common.project.effective_entry): a typo fixed in one entry
    rebuilds that service alone, a reformatted file nothing."""
    if not previous or any(old is None for old in previous):
        return list(project.services)
    return [
        name
        for name in project.services
        if any(old is not None and old.differs(project, name) for old in previous)
    ]

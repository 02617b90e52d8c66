"""The facts converge.py decides on, gathered from git and Redis for one push.

Cost on a push: one `git diff-tree --stdin` comparing the head with every distinct deployed
commit at once (a commit git does not hold drops out of it); Redis and `git merge-base`
only for the few services whose outcome depends on how they are judged (a failed build, a
pin, a force push); shipline.yaml read at a deployed commit only when it changed since,
once per worker.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from services.common.errors import PermanentError
from services.common.events import PushReceived
from services.common.logging import get_logger
from services.common.pins import Pin
from services.common.project import PROJECT_FILE, Entries, Project
from services.detector.attempts import Attempt
from services.detector.changes import earlier_entries
from services.detector.converge import (
    Facts,
    added,
    behind_plan,
    converged,
    differing,
    disputed,
    judged_on_deployed,
)
from services.detector.deployed import DeployedState
from services.detector.detect import Plan


class SourceGit(Protocol):
    """The source mirror, as read here (services.common.git.Mirror)."""

    def diff_paths_from(self, bases: Sequence[str], after: str) -> dict[str, list[str]]: ...

    def is_ancestor(self, ancestor: str, descendant: str) -> bool: ...

    def read_file(self, commit: str, path: str) -> bytes | None: ...


class Pins(Protocol):
    def get(self, repository: str, service: str) -> Pin | None: ...


class Attempts(Protocol):
    def attempts(
        self, repository: str, ref: str, services: Sequence[str]
    ) -> dict[str, Attempt]: ...


def against_deployed(
    git: SourceGit,
    push: PushReceived,
    project: Project,
    today: Plan,
    state: DeployedState,
    pins: Pins,
    sent: Attempts,
    manifests_here: bool = True,
    max_project_bytes: int | None = None,
    known: Mapping[str, Sequence[str]] | None = None,
    steady: bool = False,
) -> Plan:
    """The push's builds (`today`, judged on `before..after`), corrected by what each service
    runs: see services/detector/converge.py. `known`: diffs with `after` already read (the
    one from `before`, usually where most services were deployed), not asked again.
    `steady`: the push only added commits to `before` and left shipline.yaml alone, so
    what this worker found at `before` carries over (see Compared)."""
    deployed = {
        service: commit
        for service in project.services
        if (commit := state.commit_of(push.repository, service)) is not None
    }
    if not deployed:
        return today
    at: dict[str, frozenset[str]] = {}
    for service, commit in deployed.items():
        at[commit] = at.get(commit, frozenset()) | {service}
    carried = carried_over(push, at, today) if steady else {}
    diffs = differences(git, set(at) - carried.keys(), push.after, known or {})
    compared = {s: c for s, c in deployed.items() if c in diffs}
    previous = {
        base: entries_at(git, push.repository, base, max_project_bytes)
        for base, paths in diffs.items()
        if PROJECT_FILE in paths
    }
    behind = differing(project, compared, diffs, previous, manifests_here)
    behind = behind.union(*carried.values())
    for commit in diffs.keys() | carried.keys():
        found = Compared(at[commit], frozenset(behind & at[commit]))
        _remember(push.repository, commit, push.after, found)
    deployed = {s: c for s, c in deployed.items() if c in diffs or c in carried}
    open_question = disputed(today, behind, deployed)
    if not open_question:
        return today
    attempts = sent.attempts(push.repository, push.ref, open_question)
    newer_deployed = {
        commit: git.is_ancestor(push.after, commit)
        for commit in {deployed[s] for s in open_question if s in behind}
    }
    facts: dict[str, Facts] = {}
    for service in open_question:
        fact = Facts(
            deployed=deployed[service],
            attempt=attempts.get(service, "none"),
            deployed_is_newer=newer_deployed.get(deployed[service], False),
        )
        if judged_on_deployed(fact):  # a pin matters only then: asked only then
            fact = replace(fact, pinned=pinned(state, pins, push.repository, service))
        facts[service] = fact
    extra = {service: deployed[service] for service in added(today, behind, facts)}
    if any(commit not in diffs for commit in extra.values()):
        diffs = differences(git, set(extra.values()), push.after, diffs)
    extra_diffs = {commit: diffs[commit] for commit in extra.values() if commit in diffs}
    reasons = behind_plan(project, extra, extra_diffs, previous, manifests_here)
    return converged(today, behind, facts, reasons)


def pinned(state: DeployedState, pins: Pins, repository: str, service: str) -> bool:
    """Whether the pins file at the gitops head holds the service (an unreadable file holds
    every one). `pins` (Redis's cache) answers only for a state not read from git."""
    in_git = state.is_pinned(repository, service)
    return in_git if in_git is not None else pins.get(repository, service) is not None


@dataclass(frozen=True)
class Compared:
    """Of the services deployed from one commit (`checked`), those that differed from it at
    a head. At the next push, when it only adds commits to that head and leaves
    shipline.yaml alone, a service differs exactly when it did, or when the push changed it:
    no git process needed."""

    checked: frozenset[str]
    differing: frozenset[str]


_COMPARED: dict[tuple[str, str, str], Compared] = {}  # (repository, deployed, head)
_MAX_COMPARED = 4096


def _remember(repository: str, deployed: str, head: str, compared: Compared) -> None:
    if len(_COMPARED) >= _MAX_COMPARED:
        _COMPARED.pop(next(iter(_COMPARED)))
    _COMPARED[(repository, deployed, head)] = compared


def carried_over(
    push: PushReceived, at: Mapping[str, frozenset[str]], today: Plan
) -> dict[str, frozenset[str]]:
    """Deployed commit → its services that differ at `after`, for the commits this worker
    compared with `before` (every service deployed from it among those checked then)."""
    carried = {}
    for commit, services in at.items():
        earlier = _COMPARED.get((push.repository, commit, push.before))
        if earlier is not None and services <= earlier.checked:
            carried[commit] = services & (earlier.differing | today.keys())
    return carried


_ENTRIES: dict[tuple[str, str], Entries | None] = {}
_MAX_ENTRIES = 1024


def entries_at(git: SourceGit, repository: str, commit: str, size: int | None) -> Entries | None:
    """shipline.yaml's entries at a deployed commit, read once per worker: a service not
    redeployed since shipline.yaml changed keeps its deployed commit push after push."""
    key = (repository, commit)
    if key not in _ENTRIES:
        if len(_ENTRIES) >= _MAX_ENTRIES:
            _ENTRIES.pop(next(iter(_ENTRIES)))
        _ENTRIES[key] = earlier_entries(git, commit, size)
    return _ENTRIES[key]


def differences(
    git: SourceGit, bases: set[str], after: str, known: Mapping[str, Sequence[str]]
) -> dict[str, list[str]]:
    """Deployed commit → the paths that differ from it at `after`; a commit the mirror does
    not hold (history rewritten and collected) is left out: its services have no record."""
    given = {**known, after: ()}
    diffs = {base: list(given[base]) for base in bases if base in given}
    others = sorted(bases - diffs.keys())
    if not others:
        return diffs
    try:
        return {**diffs, **git.diff_paths_from(others, after)}
    except PermanentError as exc:
        get_logger().warning("not compared with the deployed commits", error=str(exc))
        return diffs


@dataclass(frozen=True)
class Convergence:
    """What a push to the deploy branch is judged on besides git: the gitops branch's
    deployed commits and pins (read for the project at the push's head), the last builds.
    `pins` is Redis's cache, asked only of a state not read from git (see pinned)."""

    read_state: Callable[[Project], DeployedState | None]
    pins: Pins
    sent: Attempts

"""The facts converge.py decides on, gathered from git and Redis for one push.

Cost on a push: one `git diff-tree --stdin` comparing the head with every distinct deployed
commit at once (a commit git does not hold drops out of it); Redis and `git merge-base`
only for the few services whose outcome depends on how they are judged (a failed build, a
pin, a force push); shipline.yaml read at a deployed commit only when it changed since.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from services.common.errors import PermanentError
from services.common.events import PushReceived
from services.common.logging import get_logger
from services.common.pins import Pin
from services.common.project import PROJECT_FILE, Entries, Project
from services.detector.attempts import Attempt
from services.detector.changes import earlier_entries
from services.detector.converge import Facts, behind_plan, converged, disputed
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
) -> Plan:
    """The push's builds (`today`, judged on `before..after`), corrected by what each service
    runs: see services/detector/converge.py."""
    deployed = {
        service: commit
        for service in project.services
        if (commit := state.commit_of(push.repository, service)) is not None
    }
    if not deployed:
        return today
    diffs = differences(git, set(deployed.values()), push.after)
    deployed = {service: commit for service, commit in deployed.items() if commit in diffs}
    previous: dict[str, Entries | None] = {
        base: earlier_entries(git, base, max_project_bytes)
        for base, paths in diffs.items()
        if PROJECT_FILE in paths
    }
    behind = behind_plan(project, deployed, diffs, previous, manifests_here)
    open_question = disputed(today, behind, deployed)
    if not open_question:
        return today
    attempts = sent.attempts(push.repository, push.ref, open_question)
    newer_deployed = {
        commit: git.is_ancestor(push.after, commit)
        for commit in {deployed[s] for s in open_question if s in behind}
    }
    facts = {
        service: Facts(
            deployed=deployed[service],
            pinned=pins.get(push.repository, service) is not None,
            attempt=attempts.get(service, "none"),
            deployed_is_newer=newer_deployed.get(deployed[service], False),
        )
        for service in open_question
    }
    return converged(today, behind, facts)


def differences(git: SourceGit, bases: set[str], after: str) -> dict[str, list[str]]:
    """Deployed commit → the paths that differ from it at `after`; a commit the mirror does
    not hold (history rewritten and collected) is left out: its services have no record."""
    diffs: dict[str, list[str]] = {after: []} if after in bases else {}
    others = sorted(bases - {after})
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
    deployed commits (read for the project at the push's head), pins and the last builds."""

    read_state: Callable[[Project], DeployedState | None]
    pins: Pins
    sent: Attempts

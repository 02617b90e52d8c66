"""How far each service lags behind its default branch, for the survey (survey.py).

- `deployed_commit`: the source commit the service runs, from the gitops branch's
  `Shipline-Deployed` trailers (services/detector/deployed.py, the reader detection uses).
- `desired_commit`: the branch head when the service's content there (its path, Dockerfile,
  `depends_on`, the global paths and its shipline.yaml entry, as detection defines them:
  services/detector/converge.py) differs from its content at the deployed commit: the
  newest commit whose content differs from the deployed one, the commit a build brings it
  to. The deployed commit itself when the content is the same.
- `behind_by`: the commits in `deployed..head` (merges left out) that change the service's
  content, among the newest BEHIND_COUNTED; a shipline.yaml change counts when the
  service's entry differs between the two commits. At least 1 when the content differs
  (a force push can drop the commits that made the difference: none is left to count).

All three are None when unknown: no trailer names the service from this repository, or
git does not hold its deployed commit. A deployed commit newer than the head (deployed by
hand from a later commit) counts as in sync: the committer never deploys backwards.

Cost per survey: one `git log --grep` over the gitops commits since the state read last
(the detector's DeployedCache, per gitops head; the whole branch without it, or when the
branch was rewritten), one `git diff-tree --stdin` for every distinct deployed commit at
once, and one `git log --name-only` per distinct deployed commit of a service that differs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Protocol

from services.common.errors import ShiplineError
from services.common.logging import get_logger
from services.common.project import PROJECT_FILE, Entries, Project
from services.detector.changes import earlier_entries
from services.detector.converge import differing
from services.detector.deployed import DeployedState, GitopsHistory, read_state
from services.detector.paths import GLOBAL, PathIndex, entries_changed, index_of

BEHIND_COUNTED = 1000  # how many commits since the deployed one are read to count


@dataclass(frozen=True)
class Drift:
    deployed_commit: str | None = None
    desired_commit: str | None = None
    behind_by: int | None = None


UNKNOWN = Drift()


class SourceHistory(Protocol):
    """The source mirror, as read here (services.common.git.Mirror)."""

    def diff_paths_from(self, bases: Sequence[str], after: str) -> dict[str, list[str]]: ...

    def touched(self, base: str, after: str, limit: int) -> list[tuple[str, list[str]]]: ...

    def is_ancestor(self, ancestor: str, descendant: str) -> bool: ...

    def read_file(self, commit: str, path: str, max_bytes: int | None = None) -> bytes | None: ...


def deployed_state(
    gitops: GitopsHistory, branch: str, known: DeployedState | None = None
) -> DeployedState | None:
    """What the gitops branch's trailers say each service runs, read from `known` (a state
    read before, at an older head) onwards when the head descends from it, whole otherwise;
    None when git fails (the survey goes on, its drift unknown)."""
    try:
        return read_state(gitops, branch, known)
    except ShiplineError as exc:
        get_logger().warning("deployed commits unknown", branch=branch, error=str(exc))
        return None


def drift_of(
    git: SourceHistory,
    project: Project,
    repository: str,
    head: str,
    state: DeployedState | None,
    manifests_here: bool = True,
) -> dict[str, Drift]:
    """Each service of `project` (at `head`) against what `state` says it runs; a git
    failure leaves them all unknown."""
    deployed = {
        service: commit
        for service in project.services
        if state is not None and (commit := state.commit_of(repository, service)) is not None
    }
    try:
        diffs = git.diff_paths_from(sorted(set(deployed.values())), head) if deployed else {}
        previous = {
            base: earlier_entries(git, base, None)
            for base, paths in diffs.items()
            if PROJECT_FILE in paths
        }
        known = {service: commit for service, commit in deployed.items() if commit in diffs}
        behind = differing(project, known, diffs, previous, manifests_here)
        counts = _counts(git, project, known, behind, previous, head, manifests_here)
    except ShiplineError as exc:
        get_logger().warning("drift unknown", repository=repository, error=str(exc))
        return dict.fromkeys(project.services, UNKNOWN)
    result = {}
    for service in project.services:
        commit = known.get(service)
        if commit is None:
            result[service] = Drift(deployed_commit=deployed.get(service))
        elif service in counts:
            result[service] = Drift(commit, head, counts[service])
        else:
            result[service] = Drift(commit, commit, 0)
    return result


def _counts(
    git: SourceHistory,
    project: Project,
    deployed: Mapping[str, str],
    behind: AbstractSet[str],
    previous: Mapping[str, Entries | None],
    head: str,
    manifests_here: bool,
) -> dict[str, int]:
    """Service → the commits since its deployed commit changing it, for those `behind`
    (left out: a deployed commit that descends from the head, which is not behind)."""
    index = index_of(project, manifests_here)
    counts: dict[str, int] = {}
    for base in sorted({deployed[service] for service in behind}):
        services = {service for service in behind if deployed[service] == base}
        if git.is_ancestor(head, base):
            continue
        entry_changed = (
            set(entries_changed(project, (previous[base],))) if base in previous else set()
        )
        touched = git.touched(base, head, BEHIND_COUNTED)
        found = commits_changing(index, services, entry_changed, (p for _, p in touched))
        counts.update({service: max(found.get(service, 0), 1) for service in services})
    return counts


def commits_changing(
    index: PathIndex,
    services: AbstractSet[str],
    entry_changed: AbstractSet[str],
    commits: Iterable[Sequence[str]],
) -> dict[str, int]:
    """Of `services`, how many of `commits` (each its changed paths) change each one: a path
    it watches, a global path, or shipline.yaml when its entry is in `entry_changed`."""
    counts = dict.fromkeys(services, 0)
    watching: dict[str, AbstractSet[str]] = {}
    for paths in commits:
        hit: set[str] = set()
        for path in paths:
            if path == PROJECT_FILE:
                hit |= services & entry_changed
                continue
            if path not in watching:
                kinds = index.sort([path])
                found = {} if kinds.manifests or kinds.ignored else index.watchers(path)
                watching[path] = services if GLOBAL in found else services & found.keys()
            hit |= watching[path]
        for service in hit:
            counts[service] += 1
    return counts

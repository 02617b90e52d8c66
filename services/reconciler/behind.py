"""Git's word on the services the reconciler would build again: which are still behind.

Asked only for the services whose retry is due, so a pass with none touches no git. The
branch head is read from the fetched source mirror and what each service runs from the
gitops branch's trailers (services/detector/deployed.py); a service is behind when its
content at the head differs from its content at its deployed commit (services/detector/
converge.py, the detector's own rule). Not built: a service gone from shipline.yaml, a
pinned one (the pins file at the gitops head holds it, read with the deployed commits; an
unreadable pins file holds every service: a pin is never fought), one deployed from the head
or a newer commit (never backwards), one whose content equals what it runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from services.common.errors import PermanentError
from services.common.mirrors import mirror_of, project_at
from services.common.project import PROJECT_FILE
from services.common.settings import Repository, Settings
from services.detector.against_deployed import Pins, entries_at, pinned
from services.detector.converge import differing
from services.detector.deployed import DeployedCache, deployed_now


@dataclass
class Behind:
    head: str | None = None  # the default branch's head (None: the branch is gone)
    services: list[str] = field(default_factory=list)  # still behind: build them at head
    settled: dict[str, str] = field(default_factory=dict)  # service → why it is not built
    waiting: dict[str, str] = field(default_factory=dict)  # service → why not now: next pass


def still_behind(
    settings: Settings,
    repo: Repository,
    candidates: Sequence[str] | None,
    cache: DeployedCache,
    pins: Pins,
    deployed_only: bool = False,
) -> Behind:
    """Of `candidates` (services of `repo`; None: every service at the head), those still
    behind the default branch's head. `deployed_only`: one never deployed is settled (its
    first deploy is a push's)."""
    mirror = mirror_of(settings, repo)
    mirror.fetch()
    head = mirror.resolve(f"refs/heads/{repo.default_branch}")
    if head is None:
        return Behind(settled=dict.fromkeys(candidates or (), "the default branch is gone"))
    size = settings.limits.project_file_bytes
    project = project_at(mirror, repo.name, head, size)
    if candidates is None:
        candidates = sorted(project.services)
    state = deployed_now(settings, repo, project, cache)
    if state is None:  # its pins unknown: a pinned service must not be built
        why = "the gitops branch cannot be read"
        return Behind(head=head, waiting=dict.fromkeys(candidates, why))
    found = Behind(head=head)
    deployed: dict[str, str] = {}
    for service in candidates:
        commit = state.commit_of(repo.name, service)
        if service not in project.services:
            found.settled[service] = f"not in {PROJECT_FILE} any more"
        elif pinned(state, pins, repo.name, service):
            found.settled[service] = "pinned"
        elif commit is None and deployed_only:
            found.settled[service] = "never deployed: a push deploys it first"
        elif commit is None:
            found.services.append(service)  # never deployed: its build brings it to head
        elif commit == head or mirror.is_ancestor(head, commit):
            found.settled[service] = "deployed from the head or a newer commit"
        else:
            deployed[service] = commit
    if not deployed:
        return found
    try:
        diffs = mirror.diff_paths_from(sorted(set(deployed.values())), head)
    except PermanentError:
        diffs = {}
    previous = {
        base: entries_at(mirror, repo.name, base, size)
        for base, paths in diffs.items()
        if PROJECT_FILE in paths
    }
    manifests_here = project.gitops.repository in (None, repo.name)
    compared = {s: c for s, c in deployed.items() if c in diffs}
    differ = differing(project, compared, diffs, previous, manifests_here)
    for service in sorted(deployed):
        if service in differ or service not in compared:  # a commit git lost: rebuild
            found.services.append(service)
        else:
            found.settled[service] = "its content at the head is what it runs"
    return found

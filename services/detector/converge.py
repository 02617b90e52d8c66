"""Which services a push to the deploy branch rebuilds, judged on what each service runs.

A service is rebuilt when its content at the push's head (its path, Dockerfile,
`depends_on`, the global paths and its shipline.yaml entry: services/detector/paths.py)
differs from its content at the commit it was last deployed from (services/detector/
deployed.py). That is exact where comparing with `before` is not: a force push that drops
a `[skip ci]` commit rebuilds nothing the drop did not really change, and a service whose
build failed on an outage is rebuilt by the next push, whatever that push touches.

A service is judged on the push alone (`before..after`, as before) when:

- nothing records its deployed commit (never deployed by Shipline, or by another
  repository);
- it is pinned since a rollback: the committer holds it anyway, and a pin must not cost a
  build on every push; the push itself touching it still rebuilds it;
- its last build is still under way: that build brings it to its content, and rebuilding it
  for a push elsewhere would supersede it on every push;
- its last build failed for good (a bad Dockerfile, a scan block): only a commit that
  touches it may change that;
- its deployed commit is newer than the push (`after` is an ancestor of it: a person
  deployed a later commit by hand): the committer never goes backwards, so a build would
  only be superseded. A deployed commit on another line of history (history rewritten) is
  compared by content all the same.

Pure: git and Redis facts come in as data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from services.common.project import PROJECT_FILE, Entries, Project
from services.detector.attempts import Attempt
from services.detector.detect import Plan
from services.detector.paths import GLOBAL, affected, entries_changed, index_of


@dataclass(frozen=True)
class Facts:
    """What decides whether a service is judged on its deployed commit."""

    deployed: str | None  # the source commit it runs; None: no record
    pinned: bool = False
    attempt: Attempt = "none"
    deployed_is_newer: bool = False  # the push's head is an ancestor of the deployed commit


NO_RECORD = Facts(deployed=None)


def judged_on_deployed(facts: Facts) -> bool:
    """Whether a service is rebuilt by its difference from what it runs (else: by the push)."""
    return (
        facts.deployed is not None
        and not facts.pinned
        and facts.attempt not in ("under way", "failed for good")
        and not facts.deployed_is_newer
    )


def converged(
    today: Plan, behind: AbstractSet[str], facts: Mapping[str, Facts], reasons: Plan
) -> Plan:
    """The builds: `today`'s (the push's own) for a service judged on the push; for one
    judged on its deployed commit, whether it is `behind` (different from what it runs),
    with the push's reason and paths when the push rebuilds it too, else its `reasons`
    entry (see added). `facts`: the services on record whose outcome is in question."""
    result = {
        service: why
        for service, why in today.items()
        if service not in facts or not judged_on_deployed(facts[service]) or service in behind
    }
    for service in added(today, behind, facts):
        result[service] = reasons.get(service, ("paths", ()))
    return result


def added(today: Plan, behind: AbstractSet[str], facts: Mapping[str, Facts]) -> list[str]:
    """The services rebuilt only because they differ from what they run."""
    return sorted(
        service
        for service in behind - today.keys()
        if judged_on_deployed(facts.get(service, NO_RECORD))
    )


def disputed(today: Plan, behind: AbstractSet[str], deployed: Mapping[str, str]) -> list[str]:
    """The services on record whose outcome depends on how they are judged."""
    return sorted(s for s in deployed if (s in today) != (s in behind))


EVERY_SERVICE = None  # what a global path is watched by


def differing(
    project: Project,
    deployed: Mapping[str, str],
    diffs: Mapping[str, Sequence[str]],
    previous: Mapping[str, Entries | None],
    manifests_here: bool = True,
) -> set[str]:
    """The services whose content differs from their deployed commit.

    `deployed`: service → its deployed commit; `diffs`: deployed commit → the paths that
    differ from it at the push's head; `previous`: deployed commit → shipline.yaml's entries
    there, for the commits whose diff holds shipline.yaml (None: unreadable, all differ).
    Each distinct path is looked up once, and a commit's paths only until every service
    deployed from it is found to differ: the diffs from old commits are long.
    """
    index = index_of(project, manifests_here)
    watching: dict[str, frozenset[str] | None] = {}

    def watchers(path: str) -> frozenset[str] | None:
        if path not in watching:
            kinds = index.sort([path])
            found = {} if kinds.manifests or kinds.ignored else index.watchers(path)
            watching[path] = EVERY_SERVICE if GLOBAL in found else frozenset(found)
        return watching[path]

    at: dict[str, set[str]] = {}
    for service, commit in deployed.items():
        at.setdefault(commit, set()).add(service)
    result: set[str] = set()
    for base, paths in diffs.items():
        pending = at.get(base, set())
        if PROJECT_FILE in paths and pending:
            earlier = (previous[base],) if base in previous else ()
            result |= pending & set(entries_changed(project, earlier))
            pending = pending - result
        for path in paths:
            if not pending:
                break
            watched = watchers(path)
            hit = pending if watched is EVERY_SERVICE else pending & watched
            result |= hit
            pending = pending - hit
    return result


def behind_plan(
    project: Project,
    deployed: Mapping[str, str],
    diffs: Mapping[str, Sequence[str]],
    previous: Mapping[str, Entries | None],
    manifests_here: bool = True,
) -> Plan:
    """Why each service differs from its deployed commit (the arguments as for differing),
    with the reason and paths a push's build reports: asked only for the services added."""
    result: Plan = {}
    for base, paths in diffs.items():
        services = {service for service, commit in deployed.items() if commit == base}
        if not paths or not services:
            continue
        earlier = (previous[base],) if base in previous else ()
        found = affected(project, paths, earlier, manifests_here)
        if isinstance(found, str):
            continue
        for service in sorted(services & found.triggers.keys()):
            trigger = found.triggers[service]
            result[service] = (trigger.reason, trigger.paths(found.shared))
    return result

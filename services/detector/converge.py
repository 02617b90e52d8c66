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
from dataclasses import dataclass

from services.common.project import Entries, Project
from services.detector.attempts import Attempt
from services.detector.detect import Plan
from services.detector.paths import affected


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


def converged(today: Plan, behind: Plan, facts: Mapping[str, Facts]) -> Plan:
    """The builds: `today`'s (the push's own) for a service judged on the push, `behind`'s
    (its difference from what it runs) for one judged on its deployed commit. A service
    both rebuild keeps the push's reason and paths. `facts`: the services on record."""
    result = {
        service: why
        for service, why in today.items()
        if service not in facts or not judged_on_deployed(facts[service]) or service in behind
    }
    for service, why in behind.items():
        if service not in result and judged_on_deployed(facts.get(service, NO_RECORD)):
            result[service] = why
    return result


def disputed(today: Plan, behind: Plan, deployed: Mapping[str, str]) -> list[str]:
    """The services on record whose outcome depends on how they are judged."""
    return sorted(s for s in deployed if (s in today) != (s in behind))


def behind_plan(
    project: Project,
    deployed: Mapping[str, str],
    diffs: Mapping[str, Sequence[str]],
    previous: Mapping[str, Entries | None],
    manifests_here: bool = True,
) -> Plan:
    """The services whose content differs from their deployed commit, with why.

    `deployed`: service → its deployed commit; `diffs`: deployed commit → the paths that
    differ from it at the push's head; `previous`: deployed commit → shipline.yaml's entries
    there, for the commits whose diff holds shipline.yaml (None: unreadable, all differ).
    """
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

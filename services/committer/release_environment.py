"""Where a release tag deploys: the environment with `releases: true` when it is a later one
than the first (its manifests, `Shipline-Deployed: ... in <environment>` trailers, and its
write mode: a commit, or a pull request), else where pushes deploy, exactly as without
`environments:`. An environment with its own `gitops:` is written on its own branch, its
pins and trailers read there.

Each service is decided on the gitops head like a deploy: held while pinned on the branch,
never backwards from what that environment runs (the newest of its own trailers).
"""

from __future__ import annotations

from functools import partial

from services.committer.decide import Decision, decide
from services.committer.deploy import Ancestry, deploy_decision, is_ancestor_fetched, pin_in_git
from services.committer.messages import DEPLOYED, Deployed
from services.committer.stores import Pins
from services.committer.targets import Target
from services.common.environments import Environment
from services.common.events import Source
from services.common.project import Project
from services.detector.environment_runs import newest_in


def released_to(project: Project) -> Environment | None:
    """The later environment release tags deploy to; None: where pushes deploy (no
    environments, none with `releases: true`, or the first one has it). The release is
    written to that environment's gitops repository and branch (its own `gitops:`, else the
    project's: Target.for_environment)."""
    environment = next((env for env in project.environments if env.releases), None)
    if environment is None or environment.source is None:
        return None
    return environment


def release_decision(
    target: Target,
    pins: Pins,
    source: Source,
    service: str,
    path: str,
    environment: Environment | None,
    ancestry: Ancestry | None = None,
) -> Decision:
    """Whether the release may write `service` into `path`, the manifest it has in
    `environment` (None: where pushes deploy, decided exactly as a deploy). `ancestry`: the
    release's one answer per pair of commits (its services share their source commit)."""
    ancestry = ancestry or partial(is_ancestor_fetched, target.mirror)
    if environment is None:
        return deploy_decision(target, pins, source, service, path, False, ancestry)
    name = environment.name
    last = target.checkout.log(path, grep=f"^{DEPLOYED}: {service} .* in {name}$", limit=1)
    running = newest_in(last, name).get(service)
    deployed = Deployed(running.repository, running.commit) if running else None
    pin = pin_in_git(target, service, name)  # its pin there, not the first one's
    if pin is not None:
        pins.put(pin)
    return decide(source, deployed, pin, False, ancestry)

"""What a given environment runs: per service, the source commit of its image, as the gitops
branch's trailers say.

The first environment's deploys carry today's trailer (`Shipline-Deployed: <service>
<repository>@<sha>`, read by services/detector/deployed.py); a commit to a later environment
(a promotion) names it after the commit: `Shipline-Deployed: <service> <repository>@<sha> in
<environment>` (services/committer/messages.py), which the first environment's reader, anchored
at the end of the line, never takes for its own. The newest trailer naming a service in an
environment is what that service runs there, read on the branch that environment is
committed to: its own `gitops:` repository and branch when it has one, else the project's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from services.committer.messages import DEPLOYED
from services.common.git import CommitInfo
from services.detector.deployed import TRAILER_GREP, DeployedFrom, GitopsHistory, newest_trailers

_IN_ENVIRONMENT = re.compile(
    rf"^{DEPLOYED}: (?P<service>[a-z0-9-]+) (?P<repository>\S+)@(?P<commit>[0-9a-f]{{40}})"
    r" in (?P<environment>[a-z0-9-]+)$",
    re.MULTILINE,
)


def environment_grep(environment: str) -> str:
    """An extended regexp for `git log --grep` matching the trailers of a later environment."""
    return f"^{DEPLOYED}: .* in {environment}$"


def newest_in(commits: Iterable[CommitInfo], environment: str) -> dict[str, DeployedFrom]:
    """Service → its newest trailer in a later `environment`, from commits newest first."""
    found: dict[str, DeployedFrom] = {}
    for commit in commits:
        for match in _IN_ENVIRONMENT.finditer(commit.message):
            if match["environment"] == environment and match["service"] not in found:
                found[match["service"]] = DeployedFrom(
                    repository=match["repository"], commit=match["commit"]
                )
    return found


def trailers_of(
    commits: Iterable[CommitInfo], environment: str, first: bool
) -> dict[str, DeployedFrom]:
    """What `environment` runs by the trailers of `commits` (newest first); `first`: it is
    the first environment, whose trailers name no environment."""
    listed = list(commits)
    return newest_trailers(listed) if first else newest_in(listed, environment)


def runs_in(
    git: GitopsHistory, head: str, environment: str, first: bool
) -> dict[str, DeployedFrom]:
    """What `environment` runs at `head`, a commit of the gitops branch that environment is
    committed to (its own, when it has one): one `git log --grep`."""
    grep = TRAILER_GREP if first else environment_grep(environment)
    return trailers_of(git.log(None, head, grep=grep), environment, first)

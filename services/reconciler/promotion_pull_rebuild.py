"""A promotion pull request's record rebuilt from the host and from git, after Redis lost
it (services/common/promotion_pulls.py PendingPromotion). Pure.

Anyone who can open a pull request can name a branch, write a body and a commit message,
and set a commit's author: none of that is believed on its own. A record is rebuilt only
when every one of these holds, each a thing the reconciler reads, never a claim:

- the request's head branch is in the gitops repository itself (no fork: pushing there
  needs write access), is exactly `shipline/promote-<environment>` of an environment that
  writes by pull request into that repository, and merges into that environment's branch;
- the branch holds exactly one commit on top of the gitops branch (git's word), the one
  the host names as its head, authored and committed by Shipline's bot identity;
- that commit is a promotion message to the environment (`promote(<env>): ...`, a
  `Shipline-Deployed: ... in <env>` trailer per service, a `Shipline-Request`), changes
  exactly those services' manifests in that environment and nothing else, and each new
  image is the one the source environment's manifest held, written there by a Shipline
  deploy of the same source commit: what a promotion would have written, nothing more.

The run is the commit's `Shipline-Run` trailer; for a commit from before it was written,
an automatic promotion's run follows from its request id, and any other gets a run of its
own (`recovered-...`): a merge then completes that run (run_recovery.py makes the record).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from services.committer.messages import REQUEST, RUN, RUN_ID
from services.committer.pull_request_writeback import promotion_branch
from services.common.auto_promotion import REQUESTED_BY, RUN_PREFIX
from services.common.environments import Environment
from services.common.events import ManifestCommitted, Source
from services.common.git import CommitInfo
from services.common.project import Project
from services.common.promotion_pulls import PendingPromotion
from services.detector.environment_runs import newest_in
from services.githost import PullRequest

_RECOVERED = uuid.UUID("3d3c2a8e-71b5-4f0e-9a43-0c7f5e2b9d16")
_REQUEST_LINE = re.compile(rf"^{REQUEST}: (?P<id>[0-9a-f-]{{36}})$", re.MULTILINE)
_RUN_LINE = re.compile(rf"^{RUN}: (?P<run>\S+)$", re.MULTILINE)
_DIGEST_LINE = r"^- {service}: \S+ \((?P<digest>sha256:[0-9a-f]{{64}})\) built from "


@dataclass(frozen=True)
class HeadCommit:
    """The promotion branch's head commit, as git has it."""

    sha: str
    parents: tuple[str, ...]
    author: tuple[str, str]  # name, email
    committer: tuple[str, str]
    message: str
    ahead: int  # commits on the branch not on the gitops branch
    parent_on_base: bool  # its parent is on the gitops branch
    changed: frozenset[str]  # paths changed from its parent


@dataclass(frozen=True)
class ServiceImages:
    """One service's images around the commit, read from the manifests."""

    new: str | None  # the environment's manifest at the commit
    old: str | None  # at its parent
    in_source: str | None  # the source environment's manifest
    source_commit: str | None  # the source commit of the source environment's Shipline deploy


@dataclass(frozen=True)
class Place:
    """Where the environment's pull requests go, and what its commits say."""

    repository: str  # the source repository (settings entry)
    default_branch: str
    gitops_repository: str
    base: str  # the gitops branch
    cluster: str | None


def rebuilt(
    pull: PullRequest,
    head: HeadCommit | None,
    environment: Environment,
    project: Project,
    place: Place,
    bot: tuple[str, str],
    images: Mapping[str, ServiceImages],
) -> PendingPromotion | str:
    """The pending promotion `pull` stands for, or why it is not believed to be one."""
    refused = _refused(pull, head, environment, bot)
    if refused:
        return refused
    assert head is not None
    promoted = newest_in([CommitInfo(head.sha, bot[1], head.message)], environment.name)
    request = _REQUEST_LINE.search(head.message)
    if not promoted or request is None:
        return "its commit names no promoted service or no request"
    paths = {project.manifest_path(s, environment.name) for s in promoted if s in project.services}
    if len(paths) == 0 or head.changed != frozenset(paths):
        return "its commit changes other files than the promoted services' manifests"
    request_id = uuid.UUID(request["id"])
    run_id = _run_of(head.message, request_id, place, pull)
    committed = []
    for service, deployed in sorted(promoted.items()):
        seen = images.get(service)
        if service not in project.services or seen is None or seen.new is None:
            return f"{service} has no image in its manifest there"
        if deployed.repository != place.repository:
            return f"{service} names another repository ({deployed.repository})"
        if seen.new != seen.in_source or seen.source_commit != deployed.commit:
            return f"{service}'s image is not what {environment.source} runs from that commit"
        committed.append(
            ManifestCommitted(
                event_id=uuid.uuid5(request_id, f"ManifestCommitted:{service}"),
                run_id=run_id,
                service=service,
                source=Source(
                    repository=deployed.repository,
                    commit=deployed.commit,
                    ref=f"refs/heads/{place.default_branch}",
                ),
                manifest_path=project.manifest_path(service, environment.name),
                old_image=seen.old or seen.new,
                new_image=seen.new,
                digest=_digest(head.message, service, seen.new),
                gitops_repository=place.gitops_repository,
                gitops_commit=head.sha,
                branch=place.base,
                cluster=place.cluster,
                auto_rollback=project.services[service].auto_rollback,
            )
        )
    return PendingPromotion(
        run_id=run_id,
        repository=place.repository,
        environment=environment.name,
        gitops_repository=place.gitops_repository,
        number=pull.number,
        url=pull.url,
        branch=pull.head,
        commit=head.sha,
        committed=tuple(committed),
    )


def _refused(
    pull: PullRequest, head: HeadCommit | None, environment: Environment, bot: tuple[str, str]
) -> str:
    if pull.same_repository is not True:
        return "its head branch is not in the gitops repository itself (a fork, or unknown)"
    if pull.head != promotion_branch(environment.name):
        return f"its head branch is not {promotion_branch(environment.name)}"
    if head is None:
        return "its head branch is not in git"
    if pull.head_sha is not None and pull.head_sha != head.sha:
        return "the host and git disagree on its head commit"
    if head.ahead != 1 or len(head.parents) != 1 or not head.parent_on_base:
        return "its branch is not one commit on top of the gitops branch"
    if head.author != bot or head.committer != bot:
        return "its commit is not Shipline's (author or committer)"
    if not head.message.startswith(f"promote({environment.name}): "):
        return "its commit is no promotion to the environment"
    return ""


def _run_of(message: str, request_id: uuid.UUID, place: Place, pull: PullRequest) -> str:
    named = _RUN_LINE.search(message)
    if named and RUN_ID.fullmatch(named["run"]):
        return named["run"]
    if f"Promoted by {REQUESTED_BY}" in message:
        return f"{RUN_PREFIX}{request_id.hex[:24]}"
    key = f"{place.gitops_repository}#{pull.number}:{request_id}"
    return f"recovered-{uuid.uuid5(_RECOVERED, key).hex[:24]}"


def _digest(message: str, service: str, image: str) -> str:
    found = re.search(_DIGEST_LINE.format(service=re.escape(service)), message, re.MULTILINE)
    if found:
        return found["digest"]
    _, at, digest = image.partition("@")
    return digest if at else ""

"""What each service runs now: the source commit its manifest was last deployed from, as the
gitops branch records it.

Every commit the committer writes names, per service it deployed, the source commit of the
image (`Shipline-Deployed: <service> <repository>@<sha>`, services/committer/messages.py):
deploys, releases and rollbacks that know the source. The newest such trailer naming a
service is what that service runs: the same fact the committer decides on before it
deploys (services/committer/decide.py). A rollback to an image whose source is unknown
writes no trailer, so the trailer before it still stands; the rollback pins the service,
and a pinned service is not judged on it (services/detector/converge.py).

Reading it costs one `git log --grep` over the gitops branch, and only when the branch's
head moved: the answer is kept in Redis per gitops head, and a newer head is read from the
cached one onwards. Anything that fails here (the gitops remote unreachable, Redis down)
leaves the services without a record: detection then compares with `before`, as always.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import timedelta
from typing import Protocol

import redis
from pydantic import BaseModel, ValidationError

from services.committer.messages import DEPLOYED
from services.common.errors import ShiplineError
from services.common.git import CommitInfo
from services.common.keyspace import DEFAULT_KEYSPACE, Keyspace
from services.common.logging import get_logger
from services.common.mirrors import mirror_of
from services.common.project import Project
from services.common.redis_types import RedisClient, bytes_client
from services.common.settings import GitopsRepository, Repository, Settings

TRAILER_GREP = f"^{DEPLOYED}: "
_TRAILER = re.compile(
    rf"^{DEPLOYED}: (?P<service>[a-z0-9-]+) (?P<repository>\S+)@(?P<commit>[0-9a-f]{{40}})$",
    re.MULTILINE,
)
CACHE_TTL = timedelta(days=7)


class DeployedFrom(BaseModel):
    """The source repository and commit a service's deployed image was built from."""

    repository: str
    commit: str


class DeployedState(BaseModel):
    """Per service, what the gitops branch at `head` says it runs."""

    head: str
    services: dict[str, DeployedFrom] = {}

    def commit_of(self, repository: str, service: str) -> str | None:
        """The deployed source commit of `service`, when `repository` deployed it last."""
        found = self.services.get(service)
        return found.commit if found is not None and found.repository == repository else None


# --- pure: the trailers ------------------------------------------------------------------


def newest_trailers(commits: Iterable[CommitInfo]) -> dict[str, DeployedFrom]:
    """Service → its newest trailer, from commits listed newest first."""
    found: dict[str, DeployedFrom] = {}
    for commit in commits:
        for match in _TRAILER.finditer(commit.message):
            if match["service"] not in found:
                found[match["service"]] = DeployedFrom(
                    repository=match["repository"], commit=match["commit"]
                )
    return found


def moved_on(older: DeployedState, head: str, newer: Iterable[CommitInfo]) -> DeployedState:
    """`older` brought to `head` by the commits in between (newest first)."""
    return DeployedState(head=head, services={**older.services, **newest_trailers(newer)})


# --- git ---------------------------------------------------------------------------------


class GitopsHistory(Protocol):
    """The gitops repository's mirror, as read here (services.common.git.Mirror)."""

    def resolve(self, ref: str) -> str | None: ...

    def is_ancestor(self, ancestor: str, descendant: str) -> bool: ...

    def log(
        self, base: str | None, after: str, limit: int | None = None, grep: str | None = None
    ) -> list[CommitInfo]: ...


def read_state(git: GitopsHistory, branch: str, known: DeployedState | None) -> DeployedState:
    """The state at the branch's head; from `known` onwards when the head descends from it.
    A branch that does not exist yet has deployed nothing."""
    head = git.resolve(f"refs/heads/{branch}")
    if head is None:
        return DeployedState(head="")
    if known is not None and known.head == head:
        return known
    if known is not None and known.head and git.is_ancestor(known.head, head):
        return moved_on(known, head, git.log(known.head, head, grep=TRAILER_GREP))
    every = git.log(None, head, grep=TRAILER_GREP)
    return DeployedState(head=head, services=newest_trailers(every))


# --- Redis: the state per gitops head ------------------------------------------------------


class DeployedCache:
    """The last state read per gitops repository and branch; a failure reads as no cache."""

    def __init__(
        self, client: redis.Redis | RedisClient, *, keys: Keyspace = DEFAULT_KEYSPACE
    ) -> None:
        self._redis, self._keys = bytes_client(client), keys

    def get(self, gitops_repository: str, branch: str) -> DeployedState | None:
        try:
            raw = self._redis.get(self._keys.deployed_commits(gitops_repository, branch))
            return DeployedState.model_validate_json(raw) if raw else None
        except (redis.RedisError, ValidationError) as exc:
            get_logger().warning("deployed commits not read from cache", error=type(exc).__name__)
            return None

    def put(self, gitops_repository: str, branch: str, state: DeployedState) -> None:
        key = self._keys.deployed_commits(gitops_repository, branch)
        try:
            self._redis.set(key, state.model_dump_json(), ex=int(CACHE_TTL.total_seconds()))
        except redis.RedisError as exc:
            get_logger().warning("deployed commits not cached", error=type(exc).__name__)


def deployed_now(
    settings: Settings,
    repo: Repository,
    project: Project,
    cache: DeployedCache,
    source_fetched: bool = True,
) -> DeployedState | None:
    """What the gitops branch of `project` says each service runs; None when it cannot be
    read (detection then compares with `before` only). Fetches the gitops mirror unless it
    is the source repository's, fetched already (`source_fetched`)."""
    gitops = gitops_remote(settings, repo, project)
    if gitops is None:
        return None
    branch = project.gitops.branch
    try:
        mirror = mirror_of(settings, gitops)
        if gitops is not repo or not source_fetched:
            mirror.fetch()
        known = cache.get(gitops.name, branch)
        state = read_state(mirror, branch, known)
    except ShiplineError as exc:
        get_logger().warning("deployed commits unknown", gitops=gitops.name, error=str(exc))
        return None
    if state != known:
        cache.put(gitops.name, branch, state)
    return state


def gitops_remote(
    settings: Settings, repo: Repository, project: Project
) -> Repository | GitopsRepository | None:
    """The repository the manifests live in; None when it is not configured."""
    name = project.gitops.repository
    if name is None or name == repo.name:
        return repo
    return settings.git_remote(name)

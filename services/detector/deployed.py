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
cached one onwards. The pins file at that same head (services/committer/pins_file.py) is read
with it, one `git show`, and cached with it: a pinned service is held by what git says, not by
Redis's cache of it, so a pin holds after Redis loses its data. A pins file that cannot be
read holds every service of the branch (nothing extra is built) until it is fixed. Anything
else that fails here (the gitops remote unreachable, Redis down)
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
from services.committer.pins_file import PINS_FILE, parse_pins
from services.common.errors import PermanentError, ShiplineError
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
    """Per service, what the gitops branch at `head` says it runs, and which it holds."""

    head: str
    services: dict[str, DeployedFrom] = {}
    pins_read: bool = False  # False: a state not read from git (or cached before pins were)
    pinned: dict[str, list[str]] = {}  # source repository → its services the pins file holds
    pins_unreadable: str = ""  # why the pins file could not be read: then every service is held

    def is_pinned(self, repository: str, service: str) -> bool | None:
        """Whether the pins file at `head` holds the service; None when it was not read."""
        if not self.pins_read:
            return None
        if self.pins_unreadable:
            return True
        return service in self.pinned.get(repository, [])

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
    """`older` brought to `head` by the commits in between (newest first); the pins file is
    read again at `head` (with_pins)."""
    return DeployedState(head=head, services={**older.services, **newest_trailers(newer)})


# --- git ---------------------------------------------------------------------------------


class GitopsHistory(Protocol):
    """The gitops repository's mirror, as read here (services.common.git.Mirror)."""

    def resolve(self, ref: str) -> str | None: ...

    def is_ancestor(self, ancestor: str, descendant: str) -> bool: ...

    def log(
        self, base: str | None, after: str, limit: int | None = None, grep: str | None = None
    ) -> list[CommitInfo]: ...

    def read_file(self, commit: str, path: str, max_bytes: int | None = None) -> bytes | None: ...


PINS_FILE_BYTES = 1024 * 1024


def read_pins(git: GitopsHistory, head: str) -> DeployedState:
    """The pins file at `head`, as the fields of a state (`head` and services left empty).
    A file that cannot be read (not YAML, a wrong key, too large, a symbolic link) is
    recorded as such: the same commit always reads the same, so it may be cached."""
    try:
        raw = git.read_file(head, PINS_FILE, PINS_FILE_BYTES)
        text = raw.decode("utf-8") if raw is not None else None
        pins = parse_pins(text)
    except (PermanentError, UnicodeDecodeError) as exc:
        why = str(exc) if isinstance(exc, PermanentError) else f"{PINS_FILE} is not UTF-8"
        get_logger().warning("pins file unreadable: every service held", head=head, error=why)
        return DeployedState(head=head, pins_read=True, pins_unreadable=why)
    pinned: dict[str, list[str]] = {}
    for repository, service in sorted(pins):
        pinned.setdefault(repository, []).append(service)
    return DeployedState(head=head, pins_read=True, pinned=pinned)


def with_pins(git: GitopsHistory, state: DeployedState) -> DeployedState:
    """`state` with the pins file at its head (none on a branch that does not exist)."""
    if state.pins_read:
        return state
    if not state.head:
        return state.model_copy(update={"pins_read": True})
    pins = read_pins(git, state.head)
    return state.model_copy(
        update={
            "pins_read": True,
            "pinned": pins.pinned,
            "pins_unreadable": pins.pins_unreadable,
        }
    )


def read_state(git: GitopsHistory, branch: str, known: DeployedState | None) -> DeployedState:
    """The state at the branch's head; from `known` onwards when the head descends from it.
    A branch that does not exist yet has deployed nothing."""
    head = git.resolve(f"refs/heads/{branch}")
    if head is None:
        return DeployedState(head="", pins_read=True)
    if known is not None and known.head == head:
        return with_pins(git, known)
    if known is not None and known.head and git.is_ancestor(known.head, head):
        newer = git.log(known.head, head, grep=TRAILER_GREP)
        return with_pins(git, moved_on(known, head, newer))
    every = git.log(None, head, grep=TRAILER_GREP)
    return with_pins(git, DeployedState(head=head, services=newest_trailers(every)))


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

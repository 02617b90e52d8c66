"""Promotion pull requests found again on their host after Redis lost their records.

The committer records each promotion pull request it opens (common/promotion_pulls.py) and
the reconciler asks the host only about those (promotion_pulls.py): a record lost with
Redis's data left its run `awaiting-merge` for good and a later merge unanswered. Here the
leader, while its own mark in Redis is gone (what a data loss looks like; and the first
start), once a minute at most until it has listed them all, lists the open
`shipline/promote-*` requests of every environment that writes by pull request (each
repository's shipline.yaml at its default branch's head, the environment's gitops entry
with a `host:`), and rebuilds the record of each it has none of
from what the host and git say (promotion_pull_rebuild.py decides what is believed). From
then on the request is answered as before: a merge read from the host or its webhook
publishes each service's ManifestCommitted (a run the store lost is recovered by the first
of them), a close ends it rejected. A run record lost too is made again with it (trigger
`recovered`, its services planned), so the merge completes it. At most RECOVERED_PER_PASS
records a pass.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import git
import redis

from services.committer.pull_request_writeback import BRANCH_PREFIX, HostClient, promotion_branch
from services.common.environments import Environment
from services.common.errors import ShiplineError
from services.common.git import CommitInfo, Mirror
from services.common.keyspace import Keyspace
from services.common.logging import get_logger
from services.common.mirrors import mirror_of, project_at
from services.common.project import Project
from services.common.promotion_pulls import PromotionPulls
from services.common.redis_types import bytes_client
from services.common.run_recovery import RECOVERED_TRIGGER
from services.common.runs import RunStore
from services.common.settings import Repository, Settings
from services.detector.environment_runs import trailers_of
from services.githost import PullRequest, pull_requests_for
from services.notifier.auto_promote import environment_clusters
from services.reconciler.manifest_reads import image_at
from services.reconciler.promotion_pull_rebuild import (
    HeadCommit,
    Place,
    ServiceImages,
    rebuilt,
)

LIST_SECONDS = 60.0
RECOVERED_PER_PASS = 20
_FIELDS = "\x1f"


class PromotionPullRecovery:
    def __init__(
        self,
        settings: Settings,
        store: PromotionPulls,
        client: redis.Redis,
        keys: Keyspace,
        runs: RunStore,
        *,
        hosts: HostClient = pull_requests_for,
        every: float = LIST_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings, self._store, self._keys, self._runs = settings, store, keys, runs
        self._redis, self._hosts = bytes_client(client), hosts
        self._every, self._clock = every, clock
        self._next = 0.0

    def pass_once(self, leading: Callable[[], bool] = lambda: True) -> int:
        """How many records were rebuilt. Only while the mark is gone (a loss, or the first
        start), once every `every` seconds at most; the mark is set once every repository
        was listed with room to spare, so a host down or a full pass is listed again."""
        now = self._clock()
        if now < self._next or self._redis.exists(self._keys.promotion_pulls_listed):
            return 0
        self._next = now + self._every
        found, complete = 0, True
        for repo in self._settings.repositories:
            if not leading() or found >= RECOVERED_PER_PASS:
                complete = False
                break
            try:
                found += self._recover(repo, leading, RECOVERED_PER_PASS - found)
            except ShiplineError as exc:
                complete = False
                get_logger(component="reconciler").warning(
                    "promotion pull requests not listed", repository=repo.name, error=str(exc)
                )
        if complete and found < RECOVERED_PER_PASS and leading():
            self._redis.set(self._keys.promotion_pulls_listed, str(now))
        return found

    def _recover(self, repo: Repository, leading: Callable[[], bool], room: int) -> int:
        mirror = mirror_of(self._settings, repo)
        mirror.fetch()
        head = mirror.resolve(f"refs/heads/{repo.default_branch}")
        if head is None:
            return 0
        project = project_at(mirror, repo.name, head, self._settings.limits.project_file_bytes)
        clusters = environment_clusters(self._settings, project, repo.name)
        found = 0
        for environment in project.environments:
            if environment.write_mode != "pull-request" or found >= room or not leading():
                continue
            gitops = project.gitops_for(environment.name)
            entry_name = gitops.repository or repo.name
            entry = repo if entry_name == repo.name else self._settings.git_remote(entry_name)
            if entry is None or entry.host is None:
                continue
            pulls = self._hosts(entry.host, entry.name).list_open(gitops.branch, BRANCH_PREFIX)
            gitops_git = mirror if entry is repo else mirror_of(self._settings, entry)
            if entry is not repo:
                gitops_git.fetch()
            place = Place(
                repo.name,
                repo.default_branch,
                entry.name,
                gitops.branch,
                clusters[environment.name],
            )
            for pull in pulls:
                if pull.head != promotion_branch(environment.name) or found >= room:
                    continue
                if self._store.get(entry.name, pull.number) is not None:
                    continue
                found += self._rebuild(pull, environment, project, place, gitops_git)
        return found

    def _rebuild(
        self,
        pull: PullRequest,
        environment: Environment,
        project: Project,
        place: Place,
        gitops: Mirror,
    ) -> int:
        log = get_logger(component="reconciler", pull_request=pull.url)
        head = _head_commit(gitops, pull.head, place.base)
        images = _images(gitops, head, project, environment, place) if head else {}
        bot = (self._settings.bot.name, self._settings.bot.email)
        pending = rebuilt(pull, head, environment, project, place, bot, images)
        if isinstance(pending, str):
            log.warning("pull request not taken for a promotion", number=pull.number, why=pending)
            return 0
        run = self._runs.get(pending.run_id)
        if run is not None and run.trigger not in ("promotion", "recovered"):
            log.warning("pull request names a run of something else", number=pull.number)
            return 0
        if run is None:  # lost too: made again, so the merge completes it
            services = [event.service for event in pending.committed]
            self._runs.create(
                pending.run_id,
                trigger=RECOVERED_TRIGGER,
                provider="reconciler",
                repository=pending.repository,
                services=",".join(services),
                environment=environment.name,
                recovered_at=str(time.time()),
            )
            self._runs.plan(pending.run_id, services)
        self._store.record(pending)
        log.info("promotion pull request found again", number=pull.number, run_id=pending.run_id)
        return 1


def _git(mirror: Mirror, *args: str) -> str:
    return str(git.Git(mirror.path).execute(["git", *args]))


def _head_commit(mirror: Mirror, branch: str, base: str) -> HeadCommit | None:
    sha = mirror.resolve(f"refs/heads/{branch}")
    base_head = mirror.resolve(f"refs/heads/{base}")
    if sha is None or base_head is None:
        return None
    try:
        fields = "%H%x1f%P%x1f%an%x1f%ae%x1f%cn%x1f%ce%x1f%B"
        shown = _git(mirror, "show", "-s", f"--format={fields}", sha).split(_FIELDS, 6)
        ahead = int(_git(mirror, "rev-list", "--count", f"{base_head}..{sha}").strip())
        changed = _git(mirror, "diff-tree", "--no-commit-id", "--name-only", "-r", "--root", sha)
    except (git.GitCommandError, ValueError):
        return None
    if len(shown) != 7:
        return None
    _, parents, author, author_email, committer, committer_email, message = shown
    parent = parents.split()
    return HeadCommit(
        sha=sha,
        parents=tuple(parent),
        author=(author, author_email),
        committer=(committer, committer_email),
        message=message,
        ahead=ahead,
        parent_on_base=len(parent) == 1 and mirror.is_ancestor(parent[0], base_head),
        changed=frozenset(line for line in changed.splitlines() if line),
    )


def _images(
    mirror: Mirror, head: HeadCommit, project: Project, environment: Environment, place: Place
) -> dict[str, ServiceImages]:
    """Each service's images around the commit; the source environment read at the
    commit's parent when it is committed to the same branch, else at its own branch's head."""
    source = environment.source or ""
    source_gitops = project.gitops_for(source)
    same_branch = (source_gitops.repository or place.repository) == place.gitops_repository and (
        source_gitops.branch == place.base
    )
    source_at = head.parents[0] if head.parents and same_branch else None
    if source_at is None:
        return {}  # another branch: not read here, so not believed (documented)
    first = project.environments[0].name == source
    found = {}
    for service in project.services:
        path = project.manifest_path(service, environment.name)
        source_path = project.manifest_path(service, source)
        found[service] = ServiceImages(
            new=image_at(mirror, head.sha, path, project, service),
            old=image_at(mirror, head.parents[0], path, project, service) if head.parents else None,
            in_source=image_at(mirror, source_at, source_path, project, service),
            source_commit=_deployed(mirror, source_at, source_path, source, first, service),
        )
    return found


def _deployed(
    mirror: Mirror, commit: str, path: str, environment: str, first: bool, service: str
) -> str | None:
    """The source commit the newest change to `path` at `commit` names, when it is a
    Shipline deploy of `service` to `environment`."""
    try:
        shown = _git(mirror, "log", "-1", "--format=%H%x1f%B", commit, "--", path)
    except git.GitCommandError:
        return None
    sha, _, message = shown.partition(_FIELDS)
    deployed = trailers_of([CommitInfo(sha, "", message)], environment, first).get(service)
    return deployed.commit if deployed else None

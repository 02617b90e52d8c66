"""Auto-promotions found again from git after Redis lost them (auto_promotion_decision.py
says which are owed).

Every `reconciler.sweep_seconds` (0: never), and at once when its own mark in Redis is gone
(what a data loss looks like), while leading, each repository with an
`approval: auto` environment is read: shipline.yaml at its default branch's head, and per
environment its manifests, pins and the newest change to each manifest on its own gitops
branch. An owed promotion that Redis knows nothing of (not soaking in the due set, not
published: the event log's marker of its id, no run of its id) is asked for as the landing
would have asked: started now when its soak (counted from the landing's commit time) is
over, else put in the due set for the reconciler's due step. At most REQUESTS_PER_PASS a
pass; the rest the next.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Collection

import git
import redis

from services.committer.pins_file import PINS_FILE, parse_pins
from services.common.auto_promotion_runs import AutoPromotionRuns
from services.common.errors import PermanentError, ShiplineError
from services.common.events import PromotionRequested, Source, decode_event
from services.common.git import CommitInfo, Mirror
from services.common.keyspace import Keyspace
from services.common.logging import get_logger
from services.common.mirrors import mirror_of, project_at
from services.common.pins import FIRST_ENVIRONMENT
from services.common.project import Project
from services.common.redis_types import bytes_client
from services.common.runs import RunStore
from services.common.settings import Repository, Settings
from services.detector.environment_runs import trailers_of
from services.notifier.auto_promote import environment_clusters
from services.reconciler.auto_promotion_decision import GitLanding, InGit, Owed, owed_promotions
from services.reconciler.manifest_reads import MANIFEST_BYTES, image_at

REQUESTS_PER_PASS = 20
RUNS_LOOKED_AT = 20
# a landing no run records is taken from git once this old, or two reconciler periods if
# longer (the committer's events are projected within moments of its push; a lost record
# stays lost)
MIN_LANDING_GRACE_SECONDS = 10.0  # a service's newest runs read for what became of a landing
_FIELDS = "\x1f"


class AutoPromotionSweep:
    def __init__(
        self,
        settings: Settings,
        client: redis.Redis,
        keys: Keyspace,
        starts: AutoPromotionRuns,
        runs: RunStore,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings, self._keys, self._starts, self._runs = settings, keys, starts, runs
        self._redis, self._clock = bytes_client(client), clock
        self._next = 0.0

    def pass_once(self, leading: Callable[[], bool] = lambda: True) -> int:
        """How many owed promotions were asked for (started or soaking)."""
        every, now = self._settings.reconciler.sweep_seconds, self._clock()
        lost = not self._redis.exists(self._keys.auto_promotions_swept)
        if every <= 0 or (now < self._next and not lost):
            return 0
        self._next = now + every
        self._redis.set(self._keys.auto_promotions_swept, str(now))
        asked = 0
        for repo in self._settings.repositories:
            if not leading() or asked >= REQUESTS_PER_PASS:
                break
            try:
                owed = self._owed(repo)
            except ShiplineError as exc:
                get_logger(component="reconciler").warning(
                    "auto-promotions not read from git", repository=repo.name, error=str(exc)
                )
                continue
            known = self._soaking()
            for item in owed:
                if asked >= REQUESTS_PER_PASS or not leading():
                    break
                if self._known(item.promotion.request, known):
                    continue
                get_logger(component="reconciler", run_id=item.promotion.request.run_id).info(
                    "auto-promotion found again from git",
                    services=",".join(item.promotion.request.services),
                    to=item.promotion.request.environment,
                )
                self._starts.request(item.promotion)
                asked += 1
        return asked

    def _owed(self, repo: Repository) -> list[Owed]:
        mirror = mirror_of(self._settings, repo)
        mirror.fetch()
        head = mirror.resolve(f"refs/heads/{repo.default_branch}")
        if head is None:
            return []
        project = project_at(mirror, repo.name, head, self._settings.limits.project_file_bytes)
        auto = [e for e in project.environments if e.approval == "auto" and e.source]
        if not auto:
            return []
        wanted = sorted({e.name for e in auto} | {e.source or "" for e in auto})
        fetched = {repo.url: mirror}
        in_git = {name: self._read(repo, project, name, fetched) for name in wanted}
        clusters = environment_clusters(self._settings, project, repo.name)
        return self._unheld(repo.name, owed_promotions(project, in_git, clusters))

    def _read(
        self, repo: Repository, project: Project, environment: str, fetched: dict[str, Mirror]
    ) -> dict[str, InGit]:
        """Each service in `environment`, on that environment's own gitops branch's head."""
        gitops = project.gitops_for(environment)
        name = gitops.repository or repo.name
        remote = repo if name == repo.name else self._settings.git_remote(name)
        if remote is None:
            return {}
        mirror = fetched.get(remote.url)
        if mirror is None:
            mirror = fetched[remote.url] = mirror_of(self._settings, remote)
            mirror.fetch()
        head = mirror.resolve(f"refs/heads/{gitops.branch}")
        if head is None:
            return dict.fromkeys(project.services, InGit(image=None))
        first = project.environments[0].name == environment
        pinned = _pins(mirror, head, FIRST_ENVIRONMENT if first else environment, repo.name)
        found: dict[str, InGit] = {}
        for service in sorted(project.services):
            path = project.manifest_path(service, environment)
            found[service] = InGit(
                image=image_at(mirror, head, path, project, service),
                pinned=pinned is None or service in pinned,
                landing=_landing(mirror, head, path, environment, first, repo, service),
            )
        return found

    def _unheld(self, repository: str, owed: list[Owed]) -> list[Owed]:
        """Of `owed`, those older than the grace whose landing the run store records as
        healthy (succeeded: verified, or committed with no cluster) or records nothing of
        (lost with the data). A younger one is left to its own events (the notifier asks
        for it then), and looked at again when the grace is over."""
        period = self._settings.reconciler.period_seconds
        grace = max(MIN_LANDING_GRACE_SECONDS, 2 * period)
        unheld = []
        for item in owed:
            healthy = self._recorded_healthy(repository, item)
            if healthy is False:
                continue
            if item.landed_at + grace > self._clock():  # its own events ask for it meanwhile
                self._next = min(self._next, item.landed_at + grace)
                continue
            unheld.append(item)
        return unheld

    def _recorded_healthy(self, repository: str, item: Owed) -> bool | None:
        """Whether the run that landed `item` ended healthy (None: no run records it)."""
        [service] = item.promotion.request.services
        newest = self._runs.index.of_service(repository, service)
        for run_id in itertools.islice(newest, RUNS_LOOKED_AT):
            run = self._runs.get(run_id)
            record = run.services.get(service) if run else None
            if record is not None and record.gitops_commit == item.landing_commit:
                return record.status == "succeeded"
        return None

    def _soaking(self) -> set[str]:
        """The ids of the promotions soaking in the due set."""
        members = self._redis.zrangebyscore(self._keys.auto_promotions_due, "-inf", "+inf")
        ids: set[str] = set()
        for member in members:
            try:
                ids.add(str(decode_event(member).event_id))
            except ValueError:
                continue
        return ids

    def _known(self, request: PromotionRequested, soaking: Collection[str]) -> bool:
        if str(request.event_id) in soaking:
            return True
        if self._redis.exists(self._keys.event_logged(request.event_id)):
            return True
        return self._runs.get(request.run_id) is not None


def _pins(mirror: Mirror, head: str, environment: str, repository: str) -> set[str] | None:
    """The services pinned in `environment` (None: the pins file is unreadable: all held)."""
    try:
        raw = mirror.read_file(head, PINS_FILE, MANIFEST_BYTES)
        pins = parse_pins(raw.decode("utf-8") if raw else None, PINS_FILE, environment)
    except (PermanentError, UnicodeDecodeError):
        return None
    return {service for (repo, service) in pins if repo == repository}


def _landing(
    mirror: Mirror,
    head: str,
    path: str,
    environment: str,
    first: bool,
    repo: Repository,
    service: str,
) -> GitLanding | None:
    """The newest change to `path` when it is a Shipline deploy of `service` here."""
    try:
        output = git.Git(mirror.path).execute(
            ["git", "log", "-1", f"--format=%H{_FIELDS}%ct{_FIELDS}%s{_FIELDS}%B", head, "--", path]
        )
    except git.GitCommandError:
        return None
    parts = str(output).split(_FIELDS, 3)
    if len(parts) != 4:
        return None
    sha, committed_at, subject, message = parts
    deployed = trailers_of([CommitInfo(sha, "", message)], environment, first).get(service)
    if deployed is None or deployed.repository != repo.name:
        return None
    source = Source(
        repository=deployed.repository,
        commit=deployed.commit,
        ref=f"refs/heads/{repo.default_branch}",
    )
    return GitLanding(sha, source, float(committed_at), subject)

"""Write-back: the committer's three writes to the gitops repository, over the parts they
are given.

A deploy (deploy.py: one service, one commit), a release (release.py: every service of a
release run, one commit), a rollback (rollback.py: one service and its pin, one commit)
and an unpin (unpin.py: the pin removed, one commit) each prepare their change on the
gitops head; gitops_commit.py lands it, one writer at a time
per gitops branch. Where a write goes (the source mirror, the gitops checkout) comes from
`targets`; the pins' Redis cache and the run store are handed in too, so a test can pass its own.
`GitopsWriter.connect` builds the real ones from the settings and a Redis client.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

from services.committer import deploy, release, rollback, unpin
from services.committer.gitops_commit import GitopsCommits
from services.committer.lock import GitopsLock
from services.committer.pull_request_writeback import PullRequestWriteback
from services.committer.stores import Pins, RunFacts
from services.committer.targets import ConfiguredTargets, Targets
from services.common.events import (
    Envelope,
    ManifestCommitted,
    ReleaseReady,
    RollbackRequested,
    ScanPassed,
    Unpinned,
    UnpinRequested,
)
from services.common.keyspace import Keyspace
from services.common.pins import PinStore
from services.common.rollout_environment import Rollout
from services.common.runs import RunStore
from services.common.settings import Settings

Deploy = deploy.Deploy


@dataclass(frozen=True)
class GitopsWriter:
    targets: Targets
    commits: GitopsCommits
    pins: Pins
    runs: RunFacts

    @classmethod
    def connect(cls, settings: Settings, client: redis.Redis) -> GitopsWriter:
        """A writer on the settings' repositories, with its pins, run store and gitops locks
        in Redis under the settings' namespace (the committer's own is made in task.py, from
        its Runtime's stores)."""
        keys = Keyspace(settings.redis_namespace)
        lock = GitopsLock(client, settings.committer.lock_wait_seconds, keys=keys)
        return cls(
            targets=ConfiguredTargets(settings),
            commits=GitopsCommits(lock, settings.bot),
            pins=PinStore(client, keys=keys),
            runs=RunStore(client, keys=keys),
        )

    def deploy(self, scan: ScanPassed, passed: bool = False) -> Deploy:
        """`passed`: the admission found the scanner's passed verdict (not a skip) for the
        image, so the commit names it in a `Shipline-Image` trailer."""
        return deploy.deploy(scan, self.targets, self.commits, self.pins, self.runs, passed)

    def release(
        self,
        ready: ReleaseReady,
        pulls: PullRequestWriteback | None = None,
        judge: release.Judge | None = None,
        passed: frozenset[str] = frozenset(),
    ) -> list[Envelope]:
        return release.release(
            ready, self.targets, self.commits, self.pins, self.runs, pulls, judge, passed
        )

    def rollback(
        self,
        request: RollbackRequested,
        only_from: str | None = None,
        failed_in: Rollout | None = None,
    ) -> ManifestCommitted:
        return rollback.rollback(
            request, self.targets, self.commits, self.pins, only_from, failed_in
        )

    def unpin(self, request: UnpinRequested) -> Unpinned:
        return unpin.unpin(request, self.targets, self.commits, self.pins)

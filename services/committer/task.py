"""Committer stage: ScanPassed → the new image committed (or superseded, or held);
ReleaseReady → every service of a release in one commit; RollbackRequested → the earlier
image committed and the service pinned; DeploymentFailed (a service with `auto_rollback`)
→ the same rollback, automatically (services/committer/auto_rollback.py); UnpinRequested →
the pin removed from the gitops branch in a commit (unpin.py); PromotionRequested → what the
source environment runs written into a later environment's manifests (promote.py).

A ScanPassed of a release run is not committed alone: the run store answers with one
ReleaseReady once every service of the release has its scan outcome.

Before a deploy or a release, every image must pass the admission (admission.py): the
service's own image repository, and a scan verdict the scanner recorded for the digest.
After each commit the repository's service inventory is surveyed again (survey.py), and
the pins' Redis cache refilled from the gitops branch's pins file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

from services.committer.admission import Admission
from services.committer.auto_rollback import roll_back
from services.committer.environment_survey import record_environments
from services.committer.gitops_commit import GitopsCommits
from services.committer.lock import GitopsLock
from services.committer.promote import promote, registry_admission
from services.committer.pull_request_writeback import PullRequestWriteback, answer_closed, run_link
from services.committer.rescan import Rescan
from services.committer.rollback_target import with_digest
from services.committer.survey import resurvey
from services.committer.targets import ConfiguredTargets
from services.committer.writeback import GitopsWriter
from services.common.environment_scan_verdicts import EnvironmentVerdicts
from services.common.environment_view import EnvironmentsStore
from services.common.events import (
    DeploymentFailed,
    Envelope,
    ManifestCommitted,
    PromotionRequested,
    PullRequestClosed,
    ReleaseReady,
    RollbackRequested,
    ScanPassed,
    Unpinned,
    UnpinRequested,
)
from services.common.logging import get_logger
from services.common.pins import PinStore
from services.common.promotion_pulls import PromotionPulls
from services.common.runs import RunStore
from services.common.runtime import Runtime
from services.common.scan_verdicts import ScanVerdict
from services.common.service_inventory import InventoryStore
from services.common.settings import Settings
from services.common.stage import Handler, StageDefinition
from services.detector.deployed import DeployedCache


def rescan(runtime: Runtime) -> Rescan:
    """How a promotion's image is judged under its target environment's own scan policy."""
    judged = EnvironmentVerdicts(runtime.redis, keys=runtime.keyspace)
    return Rescan.connect(runtime.settings, runtime.scan_verdicts, judged)


def make_handler(runtime: Runtime) -> Handler:
    settings = runtime.settings
    lock = GitopsLock(runtime.redis, settings.committer.lock_wait_seconds, keys=runtime.keyspace)
    writer = GitopsWriter(
        targets=ConfiguredTargets(settings),
        commits=GitopsCommits(lock, settings.bot),
        pins=runtime.pins,
        runs=runtime.runs,
    )
    return Committer(
        settings=settings,
        runs=runtime.runs,
        writer=writer,
        admission=Admission(settings, runtime.scan_verdicts, rescan(runtime)),
        inventory=runtime.inventory,
        pins=runtime.pins,
        deployed=DeployedCache(runtime.redis, keys=runtime.keyspace),
        environments=EnvironmentsStore(runtime.redis, keys=runtime.keyspace),
        pulls=PullRequestWriteback(
            lock,
            settings.bot,
            PromotionPulls(runtime.redis, keys=runtime.keyspace),
            runtime.scan_verdicts,
            run_url=lambda run_id: run_link(settings, run_id),
        ),
    )


@dataclass(frozen=True)
class Committer:
    settings: Settings
    runs: RunStore
    writer: GitopsWriter
    admission: Admission
    inventory: InventoryStore
    pins: PinStore
    deployed: DeployedCache | None = None  # the survey reads the gitops trailers onwards
    environments: EnvironmentsStore | None = None  # what each environment runs, for the gateway
    pulls: PullRequestWriteback | None = None  # promotions to environments that write by PR

    def __call__(self, event: Envelope) -> Sequence[Envelope]:
        produced = self.commit(event)
        committed = {e.source.repository for e in produced if isinstance(e, ManifestCommitted)}
        committed |= {e.repository for e in produced if isinstance(e, Unpinned)}
        for repository in sorted(committed):
            resurvey(
                self.settings, self.inventory, repository, pins=self.pins, deployed=self.deployed
            )
            self._record_environments(repository)
        return produced

    def _record_environments(self, repository: str) -> None:
        surveyed = self.inventory.read(repository)
        if self.environments is not None and surveyed is not None and surveyed.commit:
            writer = self.writer
            record_environments(
                writer.targets, writer.commits, self.environments, repository, surveyed.commit
            )

    def commit(self, event: Envelope) -> Sequence[Envelope]:
        match event:
            case ScanPassed() if self.runs.release_of(event.run_id) is not None:
                get_logger().info("scanned; waiting for the rest of the release")
                return ()
            case ScanPassed():
                verdicts = self.admission.check(
                    event.source, {event.service: (event.image_repository, event.digest)}
                )
                return (self.writer.deploy(event, event.service in passed(verdicts)),)
            case ReleaseReady():
                admitted: dict[str, ScanVerdict] = {}
                if not event.held:  # a held release commits nothing
                    images = {s: (i.image_repository, i.digest) for s, i in event.images.items()}
                    admitted = self.admission.check(event.source, images)
                judge = self.admission.release_blocked
                return self.writer.release(event, self.pulls, judge, passed(admitted))
            case RollbackRequested():
                return (self.writer.rollback(with_digest(self.settings, event)),)
            case DeploymentFailed() if event.auto_rollback:
                return (roll_back(self.writer, event),)
            case DeploymentFailed():
                return ()  # routed here only with auto_rollback; a hand-published one is moot
            case UnpinRequested():
                return (self.writer.unpin(event),)
            case PromotionRequested():
                admit = registry_admission(self.settings, self.admission, event)
                targets, commits = self.writer.targets, self.writer.commits
                return promote(event, targets, commits, admit, self.pulls)
            case PullRequestClosed() if self.pulls is not None:
                holding = partial(self.pulls.holding, self.writer.targets)
                return answer_closed(self.pulls.store, event, holding)
            case PullRequestClosed():
                return ()
        raise TypeError(f"the committer does not handle {event.type}")


def passed(verdicts: dict[str, ScanVerdict]) -> frozenset[str]:
    """The services whose image's verdict says passed (not skipped): named by digest."""
    return frozenset(service for service, v in verdicts.items() if v.outcome == "passed")


STAGE = StageDefinition(
    name="committer",
    consumes=(
        ScanPassed,
        ReleaseReady,
        RollbackRequested,
        DeploymentFailed,
        UnpinRequested,
        PromotionRequested,
        PullRequestClosed,
    ),
    factory=make_handler,
)

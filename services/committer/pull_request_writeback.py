"""Pull-request write-back: a promotion to an environment with `write: pull-request` (or
`approval: pull-request`) lands on a branch `shipline/promote-<environment>` and in a pull
request into the gitops branch, never on the gitops branch itself.

The branch is force-updated from the gitops head by every promotion of the environment, so
a newer promotion updates the one open request (retitled, described again) instead of
piling up conflicting ones; the run that request stood for ends `superseded`. Each service
of the run shows `awaiting-merge` (PullRequestOpened) until the request is closed: merged,
its ManifestCommitted (recorded now, in services/common/promotion_pulls.py) is published
with the merge commit, so verification and notification go on; closed unmerged, it ends
`rejected` (DeploymentSkipped). `answer_closed` gives those events, whether the host's
webhook or a later read of the host said so. A merge is taken only as far as git shows it:
the merge commit must be on the gitops branch, and a service goes on only where the
manifest at that commit runs the promoted image (a reviewer who changed it ends it
`rejected`); neither the webhook's nor the host's word alone moves a run on.

A release to an environment with `releases: true` that writes by pull request goes the same
way, on the same branch (a release and a promotion of one environment never stand as two
conflicting requests), its body the release notes (release_pull_text.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from services.committer.environment_survey import running_in
from services.committer.formats import read_image
from services.committer.gitops_commit import Finished, Prepare
from services.committer.lock import GitopsLock
from services.committer.promotion_pull_text import ServiceChange, body, title
from services.committer.release_pull_text import release_body, release_title
from services.committer.targets import Target, Targets
from services.common.environments import Environment
from services.common.errors import PermanentError, ShiplineError, TransientError
from services.common.events import (
    DeploymentSkipped,
    Envelope,
    ManifestCommitted,
    PromotionRequested,
    PullRequestClosed,
    PullRequestOpened,
    ReleaseReady,
)
from services.common.logging import get_logger
from services.common.promotion_pulls import PendingPromotion, PromotionPulls
from services.common.repository_settings import GitHost
from services.common.scan_verdicts import ScanVerdicts
from services.common.settings import BotIdentity, Settings
from services.githost import PullRequest, PullRequestDraft, PullRequests, pull_requests_for

BRANCH_PREFIX = "shipline/promote-"
LABELS = ("shipline", "promotion")
RELEASE_LABELS = ("shipline", "release")
HostClient = Callable[[GitHost, str], PullRequests]
Describe = Callable[[Mapping[str, ServiceChange]], tuple[str, str]]  # changes → title, body
# (pending promotion, merged commit) → the services whose manifest there runs their image
Holding = Callable[[PendingPromotion, str], frozenset[str]]


def promotion_branch(environment: str) -> str:
    return f"{BRANCH_PREFIX}{environment}"


def run_link(settings: Settings, run_id: str) -> str | None:
    """The run's page, from a github_status channel's `target_url_template` when one has it."""
    for channel in settings.notifications:
        template = getattr(channel, "target_url_template", None)
        if template:
            return str(template).format(run_id=run_id, repository="", commit="")
    return None


@dataclass(frozen=True)
class PullRequestWriteback:
    lock: GitopsLock
    bot: BotIdentity
    store: PromotionPulls
    verdicts: ScanVerdicts | None = None
    hosts: HostClient = pull_requests_for
    run_url: Callable[[str], str | None] = lambda run_id: None

    def promote(
        self,
        request: PromotionRequested,
        target: Target,
        environment: Environment,
        prepare: Prepare[list[Envelope]],
    ) -> list[Envelope]:
        """The promotion's commit pushed to its branch and its pull request opened or
        updated: the events of the services it holds (PullRequestOpened), of any it did not
        need to change, and of the run it superseded."""

        def describe(changes: Mapping[str, ServiceChange]) -> tuple[str, str]:
            run_id = request.run_id
            text = body(
                environment.name, environment.source or "", changes, run_id, self.run_url(run_id)
            )
            return title(list(changes), environment.name), text

        return self._write(request, request.services, target, environment, prepare, describe)

    def release(
        self,
        ready: ReleaseReady,
        target: Target,
        environment: Environment,
        prepare: Prepare[list[Envelope]],
        notes: str,
    ) -> list[Envelope]:
        """A release's commit in the environment's pull request, its body the release notes."""

        def describe(changes: Mapping[str, ServiceChange]) -> tuple[str, str]:
            run_id, version = ready.run_id, ready.version
            text = release_body(
                version, environment.name, changes, notes, run_id, self.run_url(run_id)
            )
            return release_title(version, environment.name), text

        services = sorted({*ready.images, *ready.held})
        return self._write(ready, services, target, environment, prepare, describe, RELEASE_LABELS)

    def _write(
        self,
        request: Envelope,
        services: Sequence[str],
        target: Target,
        environment: Environment,
        prepare: Prepare[list[Envelope]],
        describe: Describe,
        labels: tuple[str, ...] = LABELS,
    ) -> list[Envelope]:
        pulls = self._pulls(target)
        branch, checkout = promotion_branch(environment.name), target.checkout
        with self.lock.held(target.gitops.name, branch):
            checkout.sync()
            previous = self._running(target, environment.name, services)
            step = prepare()
            if isinstance(step, Finished):
                return step.result
            sha = checkout.commit_and_push(
                step.paths, step.message, self.bot.name, self.bot.email, to=branch
            )
            events = step.done(sha)
            waiting = [
                e for e in events if isinstance(e, ManifestCommitted) and e.gitops_commit == sha
            ]
            others = [e for e in events if e not in waiting]
            changes = {e.service: self._change(target, e, previous.get(e.service)) for e in waiting}
            pull_title, pull_body = describe(changes)
            draft = PullRequestDraft(
                title=pull_title,
                body=pull_body,
                head=branch,
                base=checkout.branch,
                labels=labels,
            )
            pull, superseded = self._open_or_update(pulls, draft, target, request)
            if environment.auto_merge and not pulls.enable_auto_merge(pull.number):
                get_logger().info("the host cannot merge automatically", pull_request=pull.number)
            self.store.record(
                PendingPromotion(
                    run_id=request.run_id,
                    repository=target.source.name,
                    environment=environment.name,
                    gitops_repository=target.gitops.name,
                    number=pull.number,
                    url=pull.url,
                    branch=branch,
                    commit=sha,
                    committed=tuple(waiting),
                )
            )
        get_logger().info("promotion awaits its merge", pull_request=pull.url, commit=sha)
        opened = [_opened(request, e, environment.name, pull, branch, sha) for e in waiting]
        return [*others, *superseded, *opened]

    def holding(self, targets: Targets, pending: PendingPromotion, merged: str) -> frozenset[str]:
        """The services of `pending` whose manifest at `merged` runs the promoted image, once
        `merged` is on the gitops branch (TransientError until a fetch shows it there)."""
        if not pending.committed:
            return frozenset()
        found = targets.find(pending.repository, pending.committed[0].source.commit)
        target = found.for_environment(pending.environment)  # its own gitops: there
        checkout = target.checkout
        with self.lock.held(target.gitops.name, checkout.branch):
            checkout.sync()
            if not checkout.contains(merged):
                raise TransientError(
                    f"pull request {pending.url} is said to be merged as {merged[:12]}, which "
                    f"is not on {target.gitops.name} {checkout.branch}: asked again later"
                )
            return frozenset(
                e.service
                for e in pending.committed
                if _runs(target, e.service, checkout.read_at(merged, e.manifest_path), e.new_image)
            )

    def _pulls(self, target: Target) -> PullRequests:
        host = target.gitops.host
        if host is None:
            raise PermanentError(
                f"the environment writes by pull request, but the entry of {target.gitops.name} "
                "in the server settings has no host: (type, api_url, token) to open it with"
            )
        return self.hosts(host, target.gitops.name)

    def _open_or_update(
        self,
        pulls: PullRequests,
        draft: PullRequestDraft,
        target: Target,
        request: Envelope,
    ) -> tuple[PullRequest, list[Envelope]]:
        found = pulls.find_open(draft.head, draft.base)
        if found is None:
            return pulls.open(draft), []
        updated = pulls.update(found.number, title=draft.title, body=draft.body)
        earlier = self.store.get(target.gitops.name, found.number)
        if earlier is None or earlier.run_id == request.run_id:
            return updated, []
        why = f"superseded by run {request.run_id} in the same pull request ({updated.url})"
        return updated, _ended(earlier, "superseded", why)

    def _running(
        self, target: Target, environment: str, services: Sequence[str]
    ) -> dict[str, str | None]:
        """The source commit each service runs in the environment now (None: unknown)."""
        return {
            service: running_in(
                target.checkout, target.project, target.source.name, service, environment
            ).commit
            for service in services
            if service in target.project.services
        }

    def _change(
        self, target: Target, event: ManifestCommitted, previous: str | None
    ) -> ServiceChange:
        since = []
        if previous and previous != event.source.commit:
            try:
                since = target.mirror.log(previous, event.source.commit, limit=200)
            except ShiplineError:  # a body without the list beats no request
                get_logger().warning("source commits not listed", service=event.service)
        return ServiceChange(event, since, previous, self._scan(target, event))

    def _scan(self, target: Target, event: ManifestCommitted) -> str:
        if self.verdicts is None or not event.digest:
            return ""
        verdict = self.verdicts.get(target.project.image_repository(event.service), event.digest)
        if verdict is None:
            return ""
        if verdict.outcome == "skipped":
            return f"SKIPPED by {verdict.skipped_by}: {verdict.skip_reason}"
        policy = f" (policy {verdict.policy})" if verdict.policy else ""
        return f"{verdict.outcome}{policy} in run {verdict.run_id}"


def answer_closed(
    store: PromotionPulls, closed: PullRequestClosed, holding: Holding
) -> list[Envelope]:
    """A promotion's pull request closed: merged, each service's ManifestCommitted with the
    merge commit where the manifest there runs its image (`holding` asks git), the others
    `rejected`; unmerged, each service `rejected`. Nothing for a request no promotion
    waits on; the same events again for one answered already (a redelivery)."""
    pending = store.get(closed.gitops_repository, closed.number)
    if pending is None or pending.run_id != closed.run_id:
        return []
    if closed.merged:
        landed = closed.merge_commit_sha or pending.commit
        held = holding(pending, landed)
        events: list[Envelope] = [
            event.model_copy(update={"gitops_commit": landed})
            for event in pending.committed
            if event.service in held
        ]
        changed = [e for e in pending.committed if e.service not in held]
        why = f"its pull request {pending.url} merged as {landed[:12]} without the image"
        events += _ended(pending, "rejected", why, changed)
    else:
        why = f"its pull request {pending.url} was closed without merging"
        events = _ended(pending, "rejected", why)
    store.answered(closed.gitops_repository, closed.number)
    return events


def _runs(target: Target, service: str, manifest: str | None, image: str) -> bool:
    if manifest is None or service not in target.project.services:
        return False
    repository = target.project.image_repository(service)
    try:
        return read_image(manifest, service, target.spec(service), repository) == image
    except ShiplineError:  # no image for the service there: not what was promoted
        return False


def _ended(
    pending: PendingPromotion,
    outcome: Literal["superseded", "rejected"],
    reason: str,
    committed: Sequence[ManifestCommitted] | None = None,
) -> list[Envelope]:
    """Each service of the pending promotion ended unmerged (ids from the promotion's own
    events: whichever webhook or read of the host says so first, the same events)."""
    return [
        DeploymentSkipped(
            event_id=event.follow_up_id("DeploymentSkipped", outcome),
            run_id=pending.run_id,
            service=event.service,
            source=event.source,
            image=event.new_image,
            outcome=outcome,
            reason=reason,
            deployed_image=event.old_image,
        )
        for event in (pending.committed if committed is None else committed)
    ]


def _opened(
    request: Envelope,
    event: ManifestCommitted,
    environment: str,
    pull: PullRequest,
    branch: str,
    sha: str,
) -> PullRequestOpened:
    return PullRequestOpened(
        event_id=request.follow_up_id("PullRequestOpened", event.service),
        run_id=request.run_id,
        service=event.service,
        environment=environment,
        gitops_repository=event.gitops_repository,
        number=pull.number,
        url=pull.url,
        branch=branch,
        commit=sha,
    )

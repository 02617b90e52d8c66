"""Detector stage: PushReceived | BuildRequested | ReleaseRequested → one ChangeDetected per
service to build; DeployRequested → the ImagePushed of the image in the registry
(requests by hand resolved against git and the registry: requests.py)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial

from services.committer.survey import resurvey
from services.common.after_publish import after_publish
from services.common.errors import PermanentError
from services.common.events import (
    ZERO_SHA,
    BuildRequested,
    ChangeDetected,
    DeployRequested,
    Envelope,
    ImagePushed,
    PushReceived,
    ReleaseRequested,
)
from services.common.git import Mirror
from services.common.image_lookup import find_image
from services.common.limits import Limits
from services.common.logging import get_logger
from services.common.mirrors import mirror_of, project_at
from services.common.project import PROJECT_FILE, Project
from services.common.runtime import Runtime
from services.common.settings import Repository
from services.common.stage import Handler, StageDefinition
from services.detector.against_deployed import Convergence, against_deployed
from services.detector.attempts import SentBuilds
from services.detector.changes import TreeChanges, observe, pushed_commit, ref_mismatch
from services.detector.checked import RedisCheckedCommits
from services.detector.deployed import DeployedCache, DeployedState, deployed_now
from services.detector.detect import (
    Plan,
    Skip,
    changes_for,
    detect,
    is_pipeline_commit,
    parse_ref,
    plan,
)
from services.detector.fit import CheckedCommits, CommitCheck
from services.detector.forced import forced
from services.detector.paths import NO_SERVICE_CHANGED
from services.detector.requests import deployed_service, deployment, release_push

DEFAULT_LIMITS = Limits()


def make_handler(runtime: Runtime) -> Handler:
    settings = runtime.settings
    records = RedisCheckedCommits(runtime.redis, keys=runtime.keyspace)
    inventory = runtime.inventory
    sent = SentBuilds(runtime.redis, keys=runtime.keyspace)
    cache = DeployedCache(runtime.redis, keys=runtime.keyspace)

    def handle(event: Envelope) -> Sequence[Envelope]:
        assert isinstance(event, PushReceived | BuildRequested | ReleaseRequested | DeployRequested)
        repo = settings.repository(event.repository)
        if repo is None:
            raise PermanentError(f"repository {event.repository} is not configured")
        mirror = mirror_of(settings, repo)
        if isinstance(event, DeployRequested):
            return (deploy(event, repo, mirror),)
        if isinstance(event, ReleaseRequested):
            mirror.fetch()
            event = release_push(event, repo, mirror)
            runtime.runs.resolved(event.run_id, event.after)  # peeled below when annotated
        if isinstance(event, BuildRequested):
            requested = requested_changes(event, mirror, repo, settings.limits, records)
            resolved = requested[0].source.commit
            if event.commit is not None and resolved != event.commit:  # a tag object's id
                runtime.runs.peeled(event.run_id, resolved, tag_object=event.commit)
            result: list[ChangeDetected] | Skip = requested
        else:
            email = settings.bot.email
            judge = Convergence(
                lambda project: deployed_now(settings, repo, project, cache), runtime.pins, sent
            )
            fetching = time.time()
            result = pushed_changes(event, mirror, repo, email, settings.limits, records, judge)
            commit = pushed_commit(mirror, event)
            if commit != event.after:  # an annotated tag: the run names the commit it tags
                runtime.runs.peeled(event.run_id, commit, tag_object=event.after)
            if event.ref == f"refs/heads/{repo.default_branch}":  # for GET /api/v1/services
                # on the mirror pushed_changes fetched: a second fetch would find nothing new
                fetched = fetching if event.after != ZERO_SHA else None
                survey = partial(
                    resurvey, settings, inventory, repo.name, deployed=cache, fetched_at=fetched
                )
                if isinstance(result, Skip):
                    survey()  # the run ends here: done with its survey
                else:
                    after_publish(survey)  # the builds do not wait for it
        if isinstance(result, Skip):
            get_logger().info("nothing to build", reason=result.reason)
            return (runtime.runs.finish_empty(event, result.reason),)
        services = [change.service for change in result]
        runtime.runs.plan(event.run_id, services)
        if isinstance(event, PushReceived) and event.ref == f"refs/heads/{repo.default_branch}":
            sent.record(repo.name, event.ref, services, event.run_id)
        return result

    def deploy(request: DeployRequested, repo: Repository, mirror: Mirror) -> ImagePushed:
        mirror.fetch()
        size = settings.limits.project_file_bytes
        head, image_repository = deployed_service(request, repo, mirror, size)
        image = find_image(settings, image_repository, request.tag)
        pushed = deployment(request, repo, mirror, head, image_repository, image)
        runtime.runs.resolved(request.run_id, pushed.source.commit)
        return pushed

    return handle


def pushed_changes(
    push: PushReceived,
    mirror: Mirror,
    repo: Repository,
    bot_email: str,
    limits: Limits = DEFAULT_LIMITS,
    records: CheckedCommits | None = None,
    judge: Convergence | None = None,
) -> list[ChangeDetected] | Skip:
    """What a push builds, judged on the fetched mirror (git decides, not the payload):
    nothing unless the mirror holds the pushed ref, at `after` or past it. `records`: the
    commits checked clean against their shipline.yaml (services/detector/fit.py); `judge`:
    what a push to the default branch is also compared with (services/detector/converge.py;
    None: the push alone)."""
    if push.after == ZERO_SHA:
        return Skip("the ref was deleted")
    mirror.fetch()
    if not mirror.has_commit(push.after):
        raise PermanentError(f"commit {push.after} is not in {repo.name}")
    mismatch = ref_mismatch(mirror, push)
    if mismatch is not None:
        return Skip(mismatch)
    push = push.model_copy(update={"after": pushed_commit(mirror, push)})
    project = project_at(mirror, repo.name, push.after, limits.project_file_bytes)
    size = limits.project_file_bytes
    with CommitCheck(mirror, repo.name, push.after, project, size, records, push.before) as fit:
        return _detected(push, mirror, repo, bot_email, limits, project, fit, judge)


def _detected(
    push: PushReceived,
    mirror: Mirror,
    repo: Repository,
    bot_email: str,
    limits: Limits,
    project: Project,
    fit: CommitCheck,
    judge: Convergence | None = None,
) -> list[ChangeDetected] | Skip:
    kind, name = parse_ref(push.ref)
    if kind == "tag":
        result = detect(push, project, [], [], repo.default_branch, bot_email)
        whole_file = True  # a release builds every service: check them all
        since: TreeChanges | None = None
    else:
        with ThreadPoolExecutor(max_workers=1) as pool:
            deploys = judge is not None and name == repo.default_branch
            state = pool.submit(judge.read_state, project) if judge and deploys else None
            seen = observe(
                mirror,
                push,
                name,
                repo.default_branch,
                lambda c: is_pipeline_commit(c, bot_email),
                limits.project_file_bytes,
            )
            get_logger().info(
                "compared", base=seen.range.base, why=seen.range.why, paths=len(seen.paths)
            )
            today = plan(push, project, seen.paths, seen.commits, bot_email, seen.previous)
            since = seen.since_before
            steady = seen.range.base == push.before and seen.range.dropped is None
            builds = _converged(
                push, mirror, project, limits, today, state, judge, since, steady=steady
            )
        if isinstance(builds, Skip):
            result = builds
        else:
            result = changes_for(push, project, builds, repo.default_branch)
        whole_file = seen.range.base is None or PROJECT_FILE in seen.paths
    if isinstance(result, Skip):
        if result.reason in (NO_SERVICE_CHANGED, ALL_DEPLOYED):  # a wrong `path` must not hide
            fit.require(None, manifests=False, since_before=since)
        else:
            fit.carry(since)
        return result
    within_limit(result, limits)
    fit.require(None if whole_file else [c.service for c in result], since_before=since)
    return result


ALL_DEPLOYED = "every service the push changed already runs this content"
NOTHING_TO_BUILD = ("only manifest paths changed", "only ignored paths changed", NO_SERVICE_CHANGED)


def _converged(
    push: PushReceived,
    mirror: Mirror,
    project: Project,
    limits: Limits,
    today: Plan | Skip,
    state: Future[DeployedState | None] | None,
    judge: Convergence | None,
    since: TreeChanges | None,
    steady: bool = False,
) -> Plan | Skip:
    """`today` corrected by what each service runs (services/detector/converge.py); a push
    skipped for any reason but finding nothing to build (`[skip ci]`...) stays skipped."""
    deployed = state.result() if state is not None else None
    if judge is None or deployed is None:
        return today
    if isinstance(today, Skip) and today.reason not in NOTHING_TO_BUILD:
        return today
    builds = today if not isinstance(today, Skip) else {}
    manifests_here = project.gitops.repository in (None, push.repository)
    size = limits.project_file_bytes
    known = {push.before: list(since.status)} if since is not None else {}
    steady = steady and since is not None and PROJECT_FILE not in since.status
    judged = against_deployed(
        mirror,
        push,
        project,
        builds,
        deployed,
        judge.pins,
        judge.sent,
        manifests_here,
        size,
        known,
        steady,
    )
    if judged:
        return judged
    return today if isinstance(today, Skip) else Skip(ALL_DEPLOYED)


def within_limit(result: Sequence[ChangeDetected], limits: Limits) -> None:
    if len(result) > limits.services_per_push:
        raise PermanentError(
            f"the push would build {len(result)} services, more than "
            f"limits.services_per_push ({limits.services_per_push}): nothing built"
        )


def requested_changes(
    request: BuildRequested,
    mirror: Mirror,
    repo: Repository,
    limits: Limits = DEFAULT_LIMITS,
    records: CheckedCommits | None = None,
) -> list[ChangeDetected]:
    mirror.fetch()
    wanted = request.commit or request.ref or ""
    commit = mirror.resolve(wanted)  # a tag object's id names the commit it tags
    if commit is None or not mirror.has_commit(commit):
        raise PermanentError(f"{wanted} is not in {repo.name}")
    project = project_at(mirror, repo.name, commit, limits.project_file_bytes)
    changes = forced(request, commit, project, repo.default_branch)
    within_limit(changes, limits)
    size = limits.project_file_bytes
    with CommitCheck(mirror, repo.name, commit, project, size, records) as fit:
        fit.require([change.service for change in changes])
    return changes


STAGE = StageDefinition(
    name="detector",
    consumes=(PushReceived, BuildRequested, ReleaseRequested, DeployRequested),
    factory=make_handler,
)

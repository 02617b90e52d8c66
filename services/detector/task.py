"""Detector stage: PushReceived | BuildRequested | ReleaseRequested → one ChangeDetected per
service to build; DeployRequested → the ImagePushed of the image in the registry
(requests by hand resolved against git and the registry: requests.py)."""

from __future__ import annotations

from collections.abc import Sequence

from services.committer.survey import resurvey
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
from services.detector.changes import TreeChanges, observe, pushed_commit, ref_mismatch
from services.detector.checked import RedisCheckedCommits
from services.detector.detect import Skip, detect, is_pipeline_commit, parse_ref
from services.detector.fit import CheckedCommits, CommitCheck
from services.detector.forced import forced
from services.detector.paths import NO_SERVICE_CHANGED
from services.detector.requests import deployed_service, deployment, release_push

DEFAULT_LIMITS = Limits()


def make_handler(runtime: Runtime) -> Handler:
    settings = runtime.settings
    records = RedisCheckedCommits(runtime.redis, keys=runtime.keyspace)
    inventory = runtime.inventory

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
            result = pushed_changes(event, mirror, repo, email, settings.limits, records)
            commit = pushed_commit(mirror, event)
            if commit != event.after:  # an annotated tag: the run names the commit it tags
                runtime.runs.peeled(event.run_id, commit, tag_object=event.after)
            if event.ref == f"refs/heads/{repo.default_branch}":  # for GET /api/v1/services
                resurvey(settings, inventory, repo.name)
        if isinstance(result, Skip):
            get_logger().info("nothing to build", reason=result.reason)
            return (runtime.runs.finish_empty(event, result.reason),)
        runtime.runs.plan(event.run_id, [change.service for change in result])
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
) -> list[ChangeDetected] | Skip:
    """What a push builds, judged on the fetched mirror (git decides, not the payload):
    nothing unless the mirror holds the pushed ref, at `after` or past it. `records`: the
    commits checked clean against their shipline.yaml (services/detector/fit.py)."""
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
        return _detected(push, mirror, repo, bot_email, limits, project, fit)


def _detected(
    push: PushReceived,
    mirror: Mirror,
    repo: Repository,
    bot_email: str,
    limits: Limits,
    project: Project,
    fit: CommitCheck,
) -> list[ChangeDetected] | Skip:
    kind, name = parse_ref(push.ref)
    if kind == "tag":
        result = detect(push, project, [], [], repo.default_branch, bot_email)
        whole_file = True  # a release builds every service: check them all
        since: TreeChanges | None = None
    else:
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
        result = detect(
            push, project, seen.paths, seen.commits, repo.default_branch, bot_email, seen.previous
        )
        whole_file = seen.range.base is None or PROJECT_FILE in seen.paths
        since = seen.since_before
    if isinstance(result, Skip):
        if result.reason == NO_SERVICE_CHANGED:  # a wrong `path` must not look like this
            fit.require(None, manifests=False, since_before=since)
        else:
            fit.carry(since)
        return result
    within_limit(result, limits)
    fit.require(None if whole_file else [c.service for c in result], since_before=since)
    return result


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

"""Manual deployments and rollbacks: what the API checks before it queues anything.

A deployment names a service and a tag: the service must be in the repository's
shipline.yaml (at the default branch head) and the image must be in the registry. The
run then starts at the scanner with an ImagePushed of that image (by digest), or straight
at the committer when the scan is explicitly skipped (the scanner records who and why).
The source commit is the image's `org.opencontainers.image.revision` label when the
mirror knows it, else the default branch head.

Events published by hand (`POST /api/v1/events`) are requests of the same kinds and are
rebuilt here from configuration and the registry, never taken as sent.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from services.builder.registry import RegistryClient, RemoteImage, split_repository
from services.common.errors import PermanentError, ShiplineError
from services.common.events import (
    ZERO_SHA,
    BuildRequested,
    Envelope,
    ImagePushed,
    PushReceived,
    RollbackRequested,
    ScanBypass,
    Source,
)
from services.common.git import Mirror
from services.common.mirrors import mirror_of
from services.common.project import PROJECT_FILE, Project, parse_project
from services.common.registry_auth import registry_login
from services.common.runtime import Runtime
from services.common.settings import Repository, Settings

REVISION_LABEL = "org.opencontainers.image.revision"
TAG = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"
_SHA = re.compile(r"^[0-9a-f]{40}$")
_TAG = re.compile(TAG)


class ManualError(Exception):  # noqa: N818 - carries an HTTP status for the route
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Service:
    """A service as the default branch of its repository describes it."""

    repository: Repository
    name: str
    project: Project
    head: str  # the default branch head shipline.yaml was read at
    mirror: Mirror

    @property
    def image_repository(self) -> str:
        return self.project.image_repository(self.name)


def pick_repository(settings: Settings, repository: str | None) -> Repository:
    """The configured repository named, or the only one."""
    if repository is not None:
        repo = settings.repository(repository)
        if repo is None:
            raise ManualError(422, f"repository {repository} is not configured")
        return repo
    if len(settings.repositories) == 1:
        return settings.repositories[0]
    raise ManualError(422, "several repositories are configured: name the repository")


def release_push(
    settings: Settings, repository: str | None, tag: str, run_id: str, by: str
) -> PushReceived:
    """The tag push a release request stands for: every service built at the tag's commit."""
    repo = pick_repository(settings, repository)
    mirror = mirror_of(settings, repo)
    try:
        mirror.fetch()
    except ShiplineError as exc:
        raise ManualError(502, str(exc)) from None
    commit = mirror.resolve(f"refs/tags/{tag}")
    if commit is None:
        raise ManualError(404, f"tag {tag} is not in {repo.name}")
    return PushReceived(
        run_id=run_id,
        provider="manual",
        delivery_id=f"release:{tag}:{commit}",
        repository=repo.name,
        ref=f"refs/tags/{tag}",
        before=ZERO_SHA,
        after=commit,
        pusher=by,
    )


def find_service(settings: Settings, service: str, repository: str | None) -> Service:
    """The configured repository (named, or the only one) and its shipline.yaml entry."""
    repo = pick_repository(settings, repository)
    mirror = mirror_of(settings, repo)
    try:
        mirror.fetch()
        head = mirror.resolve(f"refs/heads/{repo.default_branch}")
        text = mirror.read_file(head, PROJECT_FILE) if head else None
        if head is None or text is None:
            raise ManualError(422, f"{repo.name}: no {PROJECT_FILE} on {repo.default_branch}")
        project = parse_project(text, origin=f"{repo.name}@{head[:7]}:{PROJECT_FILE}")
    except ShiplineError as exc:
        raise ManualError(502 if not isinstance(exc, PermanentError) else 422, str(exc)) from None
    if service not in project.services:
        raise ManualError(404, f"service {service} is not in {repo.name}'s {PROJECT_FILE}")
    if not repo.allows_image(project.image_repository(service)):
        raise ManualError(
            422, f"{service}'s image is outside the image_registries configured for {repo.name}"
        )
    return Service(repo, service, project, head, mirror)


def find_image(settings: Settings, image_repository: str, tag: str) -> RemoteImage:
    """The image's digest and labels, from the registry; 404 when the tag is not there."""
    host, name = split_repository(image_repository)
    login = registry_login(settings, image_repository)
    try:
        with RegistryClient(
            host, login, insecure_hosts=settings.builder.insecure_registries
        ) as client:
            image = client.image(name, tag)
    except PermanentError as exc:
        raise ManualError(502, str(exc)) from None
    except ShiplineError as exc:
        raise ManualError(503, str(exc)) from None
    if image is None:
        raise ManualError(404, f"{image_repository}:{tag} is not in the registry")
    return image


def deployment(
    target: Service, tag: str, image: RemoteImage, run_id: str, bypass: ScanBypass | None
) -> ImagePushed:
    revision = image.labels.get(REVISION_LABEL, "")
    known = bool(_SHA.match(revision)) and target.mirror.has_commit(revision)
    ref = f"refs/heads/{target.repository.default_branch}"
    return ImagePushed(
        run_id=run_id,
        service=target.name,
        source=Source(
            repository=target.repository.name, commit=revision if known else target.head, ref=ref
        ),
        image_repository=target.image_repository,
        tags=(tag,),
        digest=image.digest,
        skip_scan=bypass,
    )


def rollback(
    target: Service, to: str | None, digest: str | None, run_id: str, by: str
) -> RollbackRequested:
    return RollbackRequested(
        run_id=run_id,
        service=target.name,
        repository=target.repository.name,
        to=to,
        digest=digest,
        requested_by=by,
    )


@dataclass(frozen=True)
class Request:
    """A request ready to start: its event, the run's trigger and the run record's fields."""

    event: Envelope
    trigger: str
    repository: Repository
    fields: dict[str, str]


def service_request(event: Envelope, trigger: str, target: Service) -> Request:
    """A request about one service (a deployment, a rollback)."""
    commit = getattr(getattr(event, "source", None), "commit", target.head)
    ref = f"refs/heads/{target.repository.default_branch}"
    fields = {"ref": ref, "commit": commit, "services": target.name}
    return Request(event, trigger, target.repository, fields)


# --- events by hand: requests rebuilt from configuration ----------------------------------


def hand_request(settings: Settings, hand: Envelope, event_id: uuid.UUID, by: str) -> Request:
    """The request a hand event stands for, rebuilt from configuration and the registry and
    published under `event_id`; ManualError says why it cannot be."""
    match hand:
        case BuildRequested():
            repo = pick_repository(settings, hand.repository)
            build = hand.model_copy(
                update={"event_id": event_id, "repository": repo.name, "requested_by": by}
            )
            fields = {"ref": build.ref or "", "commit": build.commit or ""}
            return Request(build, "forced", repo, {**fields, "services": ",".join(build.services)})
        case ImagePushed():
            target, image = redeploy(settings, hand, by)
            return service_request(
                image.model_copy(update={"event_id": event_id}), "deploy", target
            )
        case RollbackRequested():
            target, rollback = rollback_request(settings, hand, by)
            event = rollback.model_copy(update={"event_id": event_id})
            return service_request(event, "rollback", target)
    raise ManualError(422, f"{hand.type} is not a request")


def redeploy(settings: Settings, hand: ImagePushed, by: str) -> tuple[Service, ImagePushed]:
    """A hand ImagePushed as the deployment it asks for: the service's own image repository,
    the digest the registry has for the tag, and a scan skip attributed to the caller."""
    target = find_service(settings, hand.service, hand.source.repository)
    if hand.image_repository != target.image_repository:
        raise ManualError(
            422,
            f"{hand.image_repository} is not the image repository of {hand.service} "
            f"({target.image_repository} in {PROJECT_FILE}): only its own images are deployed",
        )
    if len(hand.tags) != 1 or not _TAG.match(hand.tags[0]):
        raise ManualError(422, "a redeploy names exactly one tag of the image (tags: [TAG])")
    tag = hand.tags[0]
    image = find_image(settings, target.image_repository, tag)
    if image.digest != hand.digest:
        raise ManualError(
            409,
            f"{target.image_repository}:{tag} is {image.digest} in the registry, not {hand.digest}",
        )
    bypass = None
    if hand.skip_scan is not None:
        bypass = ScanBypass(by=by, reason=hand.skip_scan.reason)
    return target, deployment(target, tag, image, hand.run_id, bypass)


def rollback_request(
    settings: Settings, hand: RollbackRequested, by: str
) -> tuple[Service, RollbackRequested]:
    """A hand RollbackRequested: the service must be configured, `to` must be in the
    registry (its digest is the registry's), and the caller is who asked."""
    target = find_service(settings, hand.service, hand.repository)
    digest = None
    if hand.to is not None:
        digest = find_image(settings, target.image_repository, hand.to).digest
    return target, rollback(target, hand.to, digest, hand.run_id, by)


def start_run(runtime: Runtime, request: Request, by: str) -> None:
    """Record the run of a manual request and queue its event."""
    event = request.event
    runtime.runs.create(
        event.run_id,
        trigger=request.trigger,
        provider="manual",
        repository=request.repository.name,
        pusher=by,
        **request.fields,
    )
    service = getattr(event, "service", None)
    if service is not None:
        runtime.runs.plan(event.run_id, [service])
    runtime.bus.publish(event)

"""Manual releases, deployments and rollbacks: what the API checks before it queues anything.

The gateway has no git and no egress but Redis, so it checks only what configuration and
Redis say: the repository is configured, and the service is one of those the workers last
surveyed (services/common/service_inventory.py; unchecked before the first survey). The
request is queued as an event a worker resolves (services/detector/requests.py, the
committer's rollback_target.py): a tag that is not in the repository or the registry, or a
digest the registry does not have, fails the run with the reason.

Events published by hand (`POST /api/v1/events`) are requests of the same kinds and are
rebuilt here from configuration, never taken as sent.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from services.common.events import (
    BuildRequested,
    DeployRequested,
    Envelope,
    ImagePushed,
    ReleaseRequested,
    RollbackRequested,
    ScanBypass,
)
from services.common.project import PROJECT_FILE
from services.common.runtime import Runtime
from services.common.service_inventory import InventoryStore
from services.common.settings import Repository, Settings

TAG = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"
_TAG = re.compile(TAG)


class ManualError(Exception):  # noqa: N818 - carries an HTTP status for the route
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Service:
    """A service of a configured repository; `image_repository` as last surveyed, if known."""

    repository: Repository
    name: str
    image_repository: str | None


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


def find_service(
    settings: Settings, inventory: InventoryStore, service: str, repository: str | None
) -> Service:
    """The configured repository (named, or the only one) and the service, 404 when the last
    clean survey of the repository does not list it."""
    repo = pick_repository(settings, repository)
    survey = inventory.read(repo.name)
    row = survey.row(service) if survey is not None else None
    if survey is not None and survey.error is None and row is None:
        raise ManualError(
            404,
            f"service {service} is not in {repo.name}'s {PROJECT_FILE} (at {survey.commit[:7]})",
        )
    return Service(repo, service, row.image_repository if row is not None else None)


def release(
    settings: Settings, repository: str | None, tag: str, run_id: str, by: str
) -> ReleaseRequested:
    """The release of an existing tag: the detector resolves it and detects its push."""
    repo = pick_repository(settings, repository)
    return ReleaseRequested(run_id=run_id, repository=repo.name, tag=tag, requested_by=by)


def deployment(
    target: Service, tag: str, run_id: str, by: str, bypass: ScanBypass | None
) -> DeployRequested:
    return DeployRequested(
        run_id=run_id,
        service=target.name,
        repository=target.repository.name,
        tag=tag,
        skip_scan=bypass,
        requested_by=by,
    )


def rollback(
    target: Service, to: str | None, run_id: str, by: str, environment: str | None = None
) -> RollbackRequested:
    """The committer takes `to`'s digest from the registry itself."""
    return RollbackRequested(
        run_id=run_id,
        service=target.name,
        repository=target.repository.name,
        to=to,
        requested_by=by,
        environment=environment,
    )


@dataclass(frozen=True)
class Request:
    """A request ready to start: its event, the run's trigger and the run record's fields."""

    event: Envelope
    trigger: str
    repository: Repository
    fields: dict[str, str]


def service_request(event: Envelope, trigger: str, target: Service) -> Request:
    """A request about one service (a deployment, a rollback); the commit is the worker's to
    find, so the run names it once resolved."""
    ref = f"refs/heads/{target.repository.default_branch}"
    fields = {"ref": ref, "commit": "", "services": target.name}
    environment = getattr(event, "environment", None)  # a rollback's or unpin's, as asked
    if environment:
        fields["environment"] = environment  # the notifier routes the run by it
    return Request(event, trigger, target.repository, fields)


# --- events by hand: requests rebuilt from configuration ----------------------------------


def hand_request(
    settings: Settings, inventory: InventoryStore, hand: Envelope, event_id: uuid.UUID, by: str
) -> Request:
    """The request a hand event stands for, rebuilt from configuration and published under
    `event_id`; ManualError says why it cannot be."""
    match hand:
        case BuildRequested():
            repo = pick_repository(settings, hand.repository)
            build = hand.model_copy(
                update={"event_id": event_id, "repository": repo.name, "requested_by": by}
            )
            fields = {"ref": build.ref or "", "commit": build.commit or ""}
            return Request(build, "forced", repo, {**fields, "services": ",".join(build.services)})
        case ImagePushed():
            target = find_service(settings, inventory, hand.service, hand.source.repository)
            request = redeploy(target, hand, event_id, by)
            return service_request(request, "deploy", target)
        case RollbackRequested():
            target = find_service(settings, inventory, hand.service, hand.repository)
            event = rollback(target, hand.to, hand.run_id, by, hand.environment)
            return service_request(
                event.model_copy(update={"event_id": event_id}), "rollback", target
            )
    raise ManualError(422, f"{hand.type} is not a request")


def redeploy(target: Service, hand: ImagePushed, event_id: uuid.UUID, by: str) -> DeployRequested:
    """A hand ImagePushed as the deployment it asks for: the detector checks that the image
    repository is the service's own and that the registry has the digest for the tag; the
    scan skip, if any, is the caller's."""
    if target.image_repository is not None and hand.image_repository != target.image_repository:
        raise ManualError(
            422,
            f"{hand.image_repository} is not the image repository of {hand.service} "
            f"({target.image_repository} in {PROJECT_FILE}): only its own images are deployed",
        )
    if len(hand.tags) != 1 or not _TAG.match(hand.tags[0]):
        raise ManualError(422, "a redeploy names exactly one tag of the image (tags: [TAG])")
    bypass = None
    if hand.skip_scan is not None:
        bypass = ScanBypass(by=by, reason=hand.skip_scan.reason)
    request = deployment(target, hand.tags[0], hand.run_id, by, bypass)
    update = {"event_id": event_id, "image_repository": hand.image_repository}
    return request.model_copy(update={**update, "digest": hand.digest})


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

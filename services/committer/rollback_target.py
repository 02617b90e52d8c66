"""A rollback to a named tag, checked in the registry by the committer before it writes:
the gateway queues `shipline rollback --to TAG` without asking the registry (it has no
egress but Redis), so a tag that is not there fails the run here, saying so."""

from __future__ import annotations

from services.common.errors import PermanentError
from services.common.events import RollbackRequested
from services.common.image_lookup import find_image
from services.common.mirrors import mirror_of, project_at
from services.common.settings import Settings


def with_digest(settings: Settings, request: RollbackRequested) -> RollbackRequested:
    """The request with the registry's digest of `to` (unchanged without `to`)."""
    if request.to is None:
        return request
    repo = settings.repository(request.repository)
    if repo is None:
        raise PermanentError(f"repository {request.repository} is not configured")
    mirror = mirror_of(settings, repo)
    mirror.fetch()
    head = mirror.resolve(f"refs/heads/{repo.default_branch}")
    if head is None:
        raise PermanentError(f"{repo.name} has no branch {repo.default_branch}")
    project = project_at(mirror, repo.name, head, settings.limits.project_file_bytes)
    if request.service not in project.services:
        raise PermanentError(f"service {request.service} is not in {repo.name}'s shipline.yaml")
    image = find_image(settings, project.image_repository(request.service), request.to)
    return request.model_copy(update={"digest": image.digest})

"""Requests by hand the gateway queued without git or the registry (it has neither), resolved
here: a release names a tag, a deployment a service and a tag. What a user got as a 404 or
409 from the API before is now the run's failure, in the same words."""

from __future__ import annotations

import re

from services.builder.registry import RemoteImage
from services.common.errors import PermanentError
from services.common.events import (
    ZERO_SHA,
    DeployRequested,
    ImagePushed,
    PushReceived,
    ReleaseRequested,
    Source,
)
from services.common.git import Mirror
from services.common.mirrors import project_at
from services.common.project import PROJECT_FILE
from services.common.settings import Repository

REVISION_LABEL = "org.opencontainers.image.revision"
_SHA = re.compile(r"^[0-9a-f]{40}$")


def release_push(request: ReleaseRequested, repo: Repository, mirror: Mirror) -> PushReceived:
    """The push of `refs/tags/<tag>` the release stands for (the mirror is fetched), with an
    id derived from the request's, so a redelivered request builds nothing twice."""
    commit = mirror.resolve(f"refs/tags/{request.tag}")
    if commit is None:
        raise PermanentError(f"tag {request.tag} is not in {repo.name}")
    return PushReceived(
        event_id=request.follow_up_id("PushReceived"),
        run_id=request.run_id,
        provider="manual",
        delivery_id=f"release:{request.tag}:{commit}",
        repository=repo.name,
        ref=f"refs/tags/{request.tag}",
        before=ZERO_SHA,
        after=commit,
        pusher=request.requested_by,
    )


def deployed_service(
    request: DeployRequested, repo: Repository, mirror: Mirror, max_bytes: int
) -> tuple[str, str]:
    """The default branch head and the service's image repository, checked: the service is
    in shipline.yaml there, its image is allowed, and a redeploy names that image."""
    head = mirror.resolve(f"refs/heads/{repo.default_branch}")
    if head is None:
        raise PermanentError(f"{repo.name} has no branch {repo.default_branch}")
    project = project_at(mirror, repo.name, head, max_bytes)
    if request.service not in project.services:
        known = ", ".join(sorted(project.services))
        raise PermanentError(
            f"service {request.service} is not in {repo.name}'s {PROJECT_FILE} "
            f"at {head[:7]} (known: {known})"
        )
    own = project.image_repository(request.service)
    if not repo.allows_image(own):
        raise PermanentError(
            f"{request.service}'s image is outside the image_registries configured for {repo.name}"
        )
    if request.image_repository is not None and request.image_repository != own:
        raise PermanentError(
            f"{request.image_repository} is not the image repository of {request.service} "
            f"({own} in {PROJECT_FILE}): only its own images are deployed"
        )
    return head, own


def deployment(
    request: DeployRequested,
    repo: Repository,
    mirror: Mirror,
    head: str,
    image_repository: str,
    image: RemoteImage,
) -> ImagePushed:
    """The ImagePushed that starts the deploy at the scanner (or skips it, on record). The
    source commit is the image's revision label when the mirror knows it, else `head`."""
    if request.digest is not None and image.digest != request.digest:
        raise PermanentError(
            f"{image_repository}:{request.tag} is {image.digest} in the registry, "
            f"not {request.digest}"
        )
    revision = image.labels.get(REVISION_LABEL, "")
    known = bool(_SHA.match(revision)) and mirror.has_commit(revision)
    ref = f"refs/heads/{repo.default_branch}"
    return ImagePushed(
        event_id=request.follow_up_id("ImagePushed"),
        run_id=request.run_id,
        service=request.service,
        source=Source(repository=repo.name, commit=revision if known else head, ref=ref),
        image_repository=image_repository,
        tags=(request.tag,),
        digest=image.digest,
        skip_scan=request.skip_scan,
    )

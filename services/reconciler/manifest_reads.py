"""What a gitops manifest says at a commit, read from a mirror: the image a service runs there."""

from __future__ import annotations

from services.committer.formats import read_image
from services.common.errors import ShiplineError
from services.common.git import Mirror
from services.common.project import Project

MANIFEST_BYTES = 1_048_576  # a larger manifest is not read


def image_at(mirror: Mirror, commit: str, path: str, project: Project, service: str) -> str | None:
    """The image `service`'s manifest at `path` names at `commit`, or None when the file is
    missing, too large, or unreadable as the service's format."""
    try:
        raw = mirror.read_file(commit, path, MANIFEST_BYTES)
        if raw is None:
            return None
        spec, repository = project.services[service], project.image_repository(service)
        return read_image(raw.decode("utf-8"), service, spec, repository)
    except (ShiplineError, ValueError):
        return None

"""A tag of an image in the registry, as the workers that resolve requests by hand see it:
the detector (a deployment, a redeploy) and the committer (a rollback to a tag). The gateway
never asks the registry: it has no egress but Redis."""

from __future__ import annotations

from services.builder.registry import RegistryClient, RemoteImage, split_repository
from services.common.errors import PermanentError
from services.common.registry_auth import registry_login
from services.common.settings import Settings


def find_image(settings: Settings, image_repository: str, tag: str) -> RemoteImage:
    """The image's digest and labels; PermanentError when the tag is not in the registry,
    TransientError when the registry cannot be reached (the stage retries)."""
    host, name = split_repository(image_repository)
    login = registry_login(settings, image_repository)
    with RegistryClient(host, login, insecure_hosts=settings.builder.insecure_registries) as client:
        image = client.image(name, tag)
    if image is None:
        raise PermanentError(f"{image_repository}:{tag} is not in the registry")
    return image

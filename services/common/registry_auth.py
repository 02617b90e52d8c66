"""Registry credentials as the builder and the scanner both need them."""

from __future__ import annotations

from dataclasses import dataclass, field

from services.common.settings import Settings

AUTH_FAILURES = ("unauthorized", "authentication required", "denied", "no basic auth credentials")
MISSING_IMAGE = ("manifest_unknown", "manifest unknown", "name_unknown")


@dataclass(frozen=True)
class RegistryLogin:
    username: str
    password: str = field(repr=False)


def registry_login(settings: Settings, image_repository: str) -> RegistryLogin | None:
    """The credential configured for the registry host the image repository lives on."""
    credential = settings.registry_auth.get(image_repository.split("/", 1)[0])
    if credential is None:
        return None
    return RegistryLogin(credential.username, credential.password.get_secret_value())

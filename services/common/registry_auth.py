"""Registry hosts and their credentials, as the builder, the scanner and the gateway need them.

Every decision that depends on a host (which credential, plain HTTP or no TLS verification)
matches the host exactly: ``host[:port]`` as written, never a prefix, so ``localhost.evil.com``
or ``127.0.0.1.evil.com`` are ordinary remote hosts.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from services.common.settings import Settings

AUTH_FAILURES = ("unauthorized", "authentication required", "denied", "no basic auth credentials")
MISSING_IMAGE = ("manifest_unknown", "manifest unknown", "name_unknown")
DOCKER_HUB = "docker.io"
# Docker Hub's registry API answers on registry-1.docker.io and issues tokens on auth.docker.io.
KNOWN_TOKEN_REALMS = {DOCKER_HUB: ("auth.docker.io",)}


@dataclass(frozen=True)
class RegistryLogin:
    username: str
    password: str = field(repr=False)
    # Hosts besides the registry's own that may receive the credentials as its token realm.
    token_realm_hosts: tuple[str, ...] = ()


def split_repository(image_repository: str) -> tuple[str, str]:
    """('host[:port]', 'path/name') of an image repository, Docker's way (no host: Docker Hub)."""
    first, _, rest = image_repository.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return first, rest
    name = image_repository if "/" in image_repository else f"library/{image_repository}"
    return DOCKER_HUB, name


_HOST_PORT = re.compile(r"(?:\[(?P<ipv6>[0-9A-Fa-f:.]+)\]|(?P<name>[^:\[\]/]+))(?::[0-9]{1,5})?")


def hostname(host: str) -> str | None:
    """The name or address of a `host[:port]` (IPv6 in brackets), lower-cased; None when it is
    not one (`localhost:5000.evil.com` has no port: it is not localhost)."""
    match = _HOST_PORT.fullmatch(host)
    if match is None:
        return None
    return (match["ipv6"] or match["name"]).lower()


def is_loopback(host: str) -> bool:
    """`localhost`, `localhost:PORT` or a loopback IP literal (with or without a port)."""
    name = hostname(host)
    if name is None:
        return False
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def is_insecure(host: str, insecure_hosts: Iterable[str]) -> bool:
    """Spoken to over plain HTTP, without TLS verification: loopback or listed exactly."""
    return is_loopback(host) or host.lower() in {listed.lower() for listed in insecure_hosts}


def registry_login(settings: Settings, image_repository: str) -> RegistryLogin | None:
    """The credential configured for exactly the registry host the image repository lives on."""
    host, _ = split_repository(image_repository)
    by_host = {configured.lower(): cred for configured, cred in settings.registry_auth.items()}
    credential = by_host.get(host.lower())
    if credential is None:
        return None
    realms = (*KNOWN_TOKEN_REALMS.get(host.lower(), ()), *credential.token_realm_hosts)
    return RegistryLogin(credential.username, credential.password.get_secret_value(), tuple(realms))

"""The registry HTTP API v2, through httpx: is an image already there, under which digest, with
which labels; and pointing one more tag at a manifest that is.

Authentication as registries ask for it: a 401 names the scheme in ``WWW-Authenticate``;
``Basic`` gets the configured credentials, ``Bearer`` a token from the realm (fetched with
the credentials, or anonymously without them). The credentials go only to the registry's own
host: a realm on another host gets them only over HTTPS when the registry's ``registry_auth``
entry lists it in ``token_realm_hosts`` (Docker Hub's auth.docker.io is known), else the
request is refused. Loopback registries, and the hosts the settings list as insecure
(exactly), are spoken to over plain HTTP, as Docker does; every other one over HTTPS.

Errors: an unreachable or overloaded registry (connection, timeout, 429, 5xx) is a
TransientError; refused credentials are a PermanentError naming ``registry_auth``, never
the password.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
import ssl
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import httpx

from services.common.errors import PermanentError, TransientError
from services.common.registry_auth import (
    DOCKER_HUB,
    RegistryLogin,
    is_insecure,
    is_loopback,
    split_repository,
)

MANIFEST_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
)
INDEX_TYPES = MANIFEST_TYPES[1::2]
__all__ = ["RegistryClient", "RemoteImage", "is_loopback", "json_object", "split_repository"]
_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')


@dataclass(frozen=True)
class RemoteImage:
    """What the registry holds under a tag: the manifest digest and the image config labels."""

    digest: str
    labels: Mapping[str, str] = field(default_factory=dict)


class RegistryClient:
    """One registry host, with the credential configured for it (if any)."""

    def __init__(
        self,
        host: str,
        login: RegistryLogin | None = None,
        *,
        insecure_hosts: Iterable[str] = (),
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.host = host
        api_host = "registry-1.docker.io" if host == DOCKER_HUB else host
        plain = is_insecure(host, insecure_hosts)
        self._login = login
        self._tokens: dict[str, str] = {}
        self._http = httpx.Client(
            base_url=f"{'http' if plain else 'https'}://{api_host}",
            verify=_tls(),
            timeout=timeout,
            transport=transport,
            follow_redirects=True,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- what the builder asks ---------------------------------------------------------

    def digest(self, name: str, tag: str) -> str | None:
        """The manifest digest `name:tag` points at, or None when the tag does not exist."""
        response = self._manifest(name, tag)
        return None if response is None else _digest_of(response)

    def image(self, name: str, tag: str) -> RemoteImage | None:
        """Digest and config labels of `name:tag`, or None when the tag does not exist."""
        response = self._manifest(name, tag)
        if response is None:
            return None
        digest = _digest_of(response)
        manifest = json_object(response, f"manifest of {name}:{tag}")
        if response.headers.get("content-type", "").split(";")[0] in INDEX_TYPES:
            chosen = _linux_amd64(manifest.get("manifests") or [])
            if chosen is None:
                return RemoteImage(digest)
            inner = self._manifest(name, str(chosen["digest"]))
            if inner is None:
                return RemoteImage(digest)
            manifest = json_object(inner, f"manifest {chosen['digest']} of {name}")
        config_digest = (manifest.get("config") or {}).get("digest")
        if not config_digest:
            return RemoteImage(digest)
        blob = self._send("GET", name, f"/v2/{name}/blobs/{config_digest}", "pull")
        if blob.status_code == 404:
            return RemoteImage(digest)
        self._raise_for(blob, name)
        config = json_object(blob, f"image config of {name}:{tag}")
        labels = (config.get("config") or {}).get("Labels") or {}
        return RemoteImage(digest, {str(k): str(v) for k, v in labels.items()})

    def tag(self, name: str, digest: str, tag: str) -> None:
        """Point `name:tag` at the manifest `digest` already in the registry (no layers move)."""
        response = self._manifest(name, digest)
        if response is None:
            raise PermanentError(f"{self.host}/{name}@{digest} is not in the registry")
        content_type = response.headers.get("content-type", MANIFEST_TYPES[0])
        put = self._send(
            "PUT",
            name,
            f"/v2/{name}/manifests/{tag}",
            "pull,push",
            content=response.content,
            headers={"Content-Type": content_type},
        )
        self._raise_for(put, name)

    def request(
        self, method: str, name: str, path: str, actions: str, **kwargs: Any
    ) -> httpx.Response:
        """One request with the authorization `actions` on `name` need (`shipline doctor`'s
        probes); the answer as it came, 4xx/5xx included."""
        return self._send(method, name, path, actions, **kwargs)

    @property
    def base_url(self) -> httpx.URL:
        return self._http.base_url

    def raise_for(self, response: httpx.Response, what: str) -> None:
        """An answer of 4xx/5xx as TransientError or PermanentError, as every call here does."""
        self._raise_for(response, what)

    # --- HTTP and auth -------------------------------------------------------------------

    def _manifest(self, name: str, reference: str) -> httpx.Response | None:
        response = self._send(
            "GET",
            name,
            f"/v2/{name}/manifests/{reference}",
            "pull",
            headers={"Accept": ", ".join(MANIFEST_TYPES)},
        )
        if response.status_code == 404:
            return None
        self._raise_for(response, name)
        return response

    def _send(
        self, method: str, name: str, path: str, actions: str, **kwargs: Any
    ) -> httpx.Response:
        scope = f"repository:{name}:{actions}"
        headers = dict(kwargs.pop("headers", {}))
        try:
            response = self._http.request(
                method, path, headers={**headers, **self._auth_header(scope)}, **kwargs
            )
            if response.status_code == 401 and self._authenticate(response, scope):
                response = self._http.request(
                    method, path, headers={**headers, **self._auth_header(scope)}, **kwargs
                )
        except httpx.HTTPError as exc:
            raise TransientError(f"registry {self.host} unreachable: {_why(exc)}") from None
        return response

    def _auth_header(self, scope: str) -> dict[str, str]:
        token = self._tokens.get(scope) or self._tokens.get("*")
        return {"Authorization": token} if token else {}

    def _authenticate(self, challenge: httpx.Response, scope: str) -> bool:
        """Prepare credentials for the scheme the 401 names; False when there is nothing to try."""
        header = challenge.headers.get("www-authenticate", "")
        scheme, _, params_text = header.partition(" ")
        if scheme.lower() == "basic":
            if self._login is None or "*" in self._tokens:
                return False
            self._tokens["*"] = _basic(self._login)
            return True
        if scheme.lower() != "bearer" or scope in self._tokens:
            return False
        params = dict(_CHALLENGE_PARAM.findall(params_text))
        if "realm" not in params:
            return False
        query = {"service": params.get("service", ""), "scope": scope}
        try:
            realm = self._http.base_url.join(params["realm"])
        except httpx.InvalidURL:
            raise PermanentError(f"registry {self.host} named an invalid token realm") from None
        try:
            answer = self._http.get(realm, params=query, auth=self._credentials_for(realm))
        except httpx.HTTPError as exc:
            raise TransientError(f"registry token service unreachable: {_why(exc)}") from None
        self._raise_for(answer, scope)
        issued = json_object(answer, "registry token")
        token = issued.get("token") or issued.get("access_token")
        if not token:
            raise PermanentError(f"registry {self.host} issued no token for {scope}")
        self._tokens[scope] = f"Bearer {token}"
        return True

    def _credentials_for(self, realm: httpx.URL) -> tuple[str, str] | None:
        """The login for the token service only when it is the registry itself (same scheme,
        host and port) or, over HTTPS, a host configured for it: a registry cannot send
        Shipline's credentials to a host of its choosing."""
        if self._login is None:
            return None
        where = _netloc(realm)
        registry = self._http.base_url
        same_origin = realm.scheme == registry.scheme and where == _netloc(registry)
        allowed = {host.lower() for host in self._login.token_realm_hosts}
        if same_origin or (realm.scheme == "https" and where in allowed):
            return self._login.username, self._login.password
        raise PermanentError(
            f"registry {self.host} asks for tokens at {realm.scheme}://{where}, another host: "
            f"its credentials are sent there only over HTTPS and when registry_auth of "
            f"{self.host} lists it in token_realm_hosts"
        )

    def _raise_for(self, response: httpx.Response, what: str) -> None:
        status = response.status_code
        if status < 400:
            return
        if status in (401, 403):
            how = "refused the credentials" if self._login else "requires credentials"
            raise PermanentError(
                f"registry {self.host} {how} for {what} (HTTP {status}): "
                "check registry_auth for this registry host"
            )
        if status == 429 or status >= 500:
            raise TransientError(f"registry {self.host} answered HTTP {status} for {what}")
        raise PermanentError(f"registry {self.host} answered HTTP {status} for {what}")


@functools.cache
def _tls() -> ssl.SSLContext:
    """One TLS context per process (httpx's default: certifi, or SSL_CERT_FILE/SSL_CERT_DIR):
    loading the CA bundle costs ~40 ms, so every client reuses it."""
    return httpx.create_ssl_context()


def _netloc(url: httpx.URL) -> str:
    """`host[:port]` of a URL, lower-cased, the scheme's default port left out."""
    host = f"[{url.host}]" if ":" in url.host else url.host
    return (f"{host}:{url.port}" if url.port else host).lower()


def _basic(login: RegistryLogin) -> str:
    pair = f"{login.username}:{login.password}".encode()
    return "Basic " + base64.b64encode(pair).decode()


def _why(exc: httpx.HTTPError) -> str:
    return type(exc).__name__


def _digest_of(response: httpx.Response) -> str:
    header = response.headers.get("docker-content-digest")
    if header:
        return header
    return "sha256:" + hashlib.sha256(response.content).hexdigest()


def json_object(response: httpx.Response, what: str) -> dict[str, Any]:
    """The answer's JSON object; a registry sending anything else is a TransientError."""
    try:
        data = response.json()
    except ValueError:
        raise TransientError(f"registry sent an unreadable {what}") from None
    if not isinstance(data, dict):
        raise TransientError(f"registry sent an unexpected {what}")
    return data


def _linux_amd64(entries: list[dict[str, Any]]) -> dict[str, Any] | None:
    for entry in entries:
        platform = entry.get("platform") or {}
        if platform.get("os") == "linux" and platform.get("architecture") == "amd64":
            return entry
    return entries[0] if entries else None

"""Attach an SBOM to an image in its registry, as an OCI artifact referring to the image.

Through the builder's RegistryClient (httpx): the same credentials per host, the same
token-realm rule, plain HTTP for loopback and ``builder.insecure_registries`` only. Steps, as
distribution-spec 1.1 "Pushing Manifests with Subject" has them: both blobs (empty config, SBOM)
uploaded unless the registry has them, the artifact manifest pushed by digest; a registry
that answers ``OCI-Subject`` or whose referrers API answers 200 lists it by itself; otherwise
the client keeps the referrers tag ``sha256-<hex>``: pulled (404: an empty index), the
descriptor appended unless already listed, pushed back. Two clients updating one tag at the
same moment can lose one entry: the spec leaves that race to the clients and this registry
has no conditional push.

Errors are RegistryClient's: TransientError for an unreachable or failing registry,
PermanentError for refused credentials or an answer retrying cannot change.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from services.builder.registry import MANIFEST_TYPES, RegistryClient, json_object
from services.common.errors import PermanentError, TransientError
from services.common.registry_auth import split_repository
from services.scanner.sbom import (
    EMPTY_CONFIG,
    OCI_INDEX,
    OCI_MANIFEST,
    Descriptor,
    artifact_manifest,
    referrer_descriptor,
    referrers_tag,
    with_referrer,
)


@dataclass(frozen=True)
class Attached:
    """Where the SBOM artifact is: its manifest digest and how the registry lists it."""

    manifest_digest: str
    listed_by: Literal["referrers-api", "referrers-tag"]
    tag: str = ""  # the referrers tag, when Shipline keeps it


class SbomRegistry:
    """Attaches SBOMs to images on the registry host `client` speaks to."""

    def __init__(self, client: RegistryClient) -> None:
        self._client = client  # closed with this

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> SbomRegistry:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def attach(self, image_repository: str, digest: str, sbom: bytes) -> Attached:
        """Attach `sbom` to `image_repository@digest`; attaching the same bytes again changes
        nothing in the registry."""
        _, name = split_repository(image_repository)
        subject = self._subject(name, digest)
        manifest = artifact_manifest(subject, sbom)
        entry = referrer_descriptor(manifest)
        for blob in (EMPTY_CONFIG, sbom):
            self._ensure_blob(name, blob)
        pushed = self._request(
            "PUT",
            name,
            f"/v2/{name}/manifests/{entry.digest}",
            "pull,push",
            content=manifest,
            headers={"Content-Type": OCI_MANIFEST},
        )
        if pushed.headers.get("oci-subject") == digest or self._referrers_api(name, digest):
            return Attached(entry.digest, "referrers-api")
        tag = referrers_tag(digest)
        self._list_under_tag(name, tag, entry)
        return Attached(entry.digest, "referrers-tag", tag)

    def referrers(self, image_repository: str, digest: str) -> dict[str, Any]:
        """The referrers of `digest` as a client finds them: the API, else the tag (`oras
        discover`'s way); an empty index when neither has any."""
        _, name = split_repository(image_repository)
        api = self._client.request("GET", name, f"/v2/{name}/referrers/{digest}", "pull")
        if api.status_code == 200:
            return json_object(api, "referrers list")
        index = self._index(name, referrers_tag(digest))
        return index or {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}

    # --- steps ---------------------------------------------------------------------------

    def _subject(self, name: str, digest: str) -> Descriptor:
        response = self._request(
            "GET",
            name,
            f"/v2/{name}/manifests/{digest}",
            "pull",
            headers={"Accept": ", ".join(MANIFEST_TYPES)},
        )
        media_type = response.headers.get("content-type", "").split(";")[0].strip()
        if media_type not in MANIFEST_TYPES:
            raise PermanentError(f"{name}@{digest} is a {media_type or 'untyped'} manifest")
        return Descriptor.model_validate(
            {"mediaType": media_type, "digest": digest, "size": len(response.content)}
        )

    def _ensure_blob(self, name: str, blob: bytes) -> None:
        digest = Descriptor.of(blob, "application/octet-stream").digest
        head = self._client.request("HEAD", name, f"/v2/{name}/blobs/{digest}", "pull")
        if head.status_code == 200:
            return
        started = self._request("POST", name, f"/v2/{name}/blobs/uploads/", "pull,push")
        location = self._same_registry(started.headers.get("location", ""))
        upload = location.copy_merge_params({"digest": digest})
        self._request(
            "PUT",
            name,
            str(upload),
            "pull,push",
            content=blob,
            headers={"Content-Type": "application/octet-stream"},
        )

    def _referrers_api(self, name: str, digest: str) -> bool:
        answer = self._client.request("GET", name, f"/v2/{name}/referrers/{digest}", "pull")
        if answer.status_code == 200:
            return True
        if answer.status_code == 429 or answer.status_code >= 500:
            raise TransientError(f"registry {self._client.host} answered HTTP {answer.status_code}")
        return False  # 404 (or 400/405 from registries predating the API): the tag schema

    def _list_under_tag(self, name: str, tag: str, entry: Descriptor) -> None:
        updated = with_referrer(self._index(name, tag), entry)
        if updated is None:
            return
        self._request(
            "PUT",
            name,
            f"/v2/{name}/manifests/{tag}",
            "pull,push",
            content=json.dumps(updated, separators=(",", ":")).encode(),
            headers={"Content-Type": OCI_INDEX},
        )

    def _index(self, name: str, tag: str) -> dict[str, Any] | None:
        answer = self._client.request(
            "GET", name, f"/v2/{name}/manifests/{tag}", "pull", headers={"Accept": OCI_INDEX}
        )
        if answer.status_code == 404:
            return None
        self._raise_for(answer, name)
        media_type = answer.headers.get("content-type", "").split(";")[0].strip()
        if media_type != OCI_INDEX:
            raise PermanentError(
                f"tag {tag} of {name} holds a {media_type or 'untyped'} manifest, not the "
                "referrers index: left as it is"
            )
        return json_object(answer, f"referrers index {tag}")

    # --- HTTP ----------------------------------------------------------------------------

    def _request(
        self, method: str, name: str, path: str, actions: str, **kwargs: Any
    ) -> httpx.Response:
        response = self._client.request(method, name, path, actions, **kwargs)
        self._raise_for(response, name)
        return response

    def _raise_for(self, response: httpx.Response, name: str) -> None:
        self._client.raise_for(response, name)

    def _same_registry(self, location: str) -> httpx.URL:
        """The upload URL the registry named, only on the registry itself: the client's
        credentials go with it."""
        if not location:
            raise TransientError(f"registry {self._client.host} started an upload without a URL")
        base = self._client.base_url
        url = base.join(location)
        if (url.scheme, url.host, url.port) != (base.scheme, base.host, base.port):
            raise PermanentError(
                f"registry {self._client.host} named an upload URL on another host: refused"
            )
        return url

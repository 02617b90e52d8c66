"""Attaching an SBOM to an image on the real registry (Debian's docker-registry, distribution
2.8: no referrers API, so the referrers tag schema), and on an in-process stand-in of a
registry that has the referrers API."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import docker
import httpx
import pytest

from services.builder.registry import RegistryClient
from services.common.errors import PermanentError, TransientError
from services.devenv.registry import Registry
from services.scanner.sbom import OCI_INDEX, OCI_MANIFEST, SBOM_MEDIA_TYPE, stable_sbom
from services.scanner.sbom_registry import SbomRegistry
from tests.scanner.images import Pushed, build_and_push

SBOM = stable_sbom(
    {"bomFormat": "CycloneDX", "specVersion": "1.6", "components": [{"name": "left-pad"}]},
    "an image",
)


@pytest.fixture(scope="module")
def image(docker_client: docker.DockerClient, registry: Registry, base_image: str) -> Pushed:
    return build_and_push(docker_client, registry, "sbom/attach", base_image, {"a.txt": "a\n"})


def registry_get(registry: Registry, path: str, accept: str) -> httpx.Response:
    response = httpx.get(f"{registry.url}{path}", headers={"Accept": accept}, timeout=10)
    response.raise_for_status()
    return response


def test_on_a_registry_without_referrers_api_the_sbom_is_found_again_through_the_tag(
    registry: Registry, image: Pushed
) -> None:
    with SbomRegistry(RegistryClient(registry.host)) as sboms:
        attached = sboms.attach(image.repository, image.digest, SBOM)

    assert attached.listed_by == "referrers-tag"
    assert attached.tag == "sha256-" + image.digest.removeprefix("sha256:")
    assert attached.tag in registry.tags("sbom/attach")
    index = registry_get(registry, f"/v2/sbom/attach/manifests/{attached.tag}", OCI_INDEX)
    assert index.headers["content-type"] == OCI_INDEX
    [entry] = [m for m in index.json()["manifests"] if m["digest"] == attached.manifest_digest]
    assert (entry["artifactType"], entry["mediaType"]) == (SBOM_MEDIA_TYPE, OCI_MANIFEST)
    manifest = registry_get(
        registry, f"/v2/sbom/attach/manifests/{entry['digest']}", OCI_MANIFEST
    ).json()
    assert manifest["artifactType"] == SBOM_MEDIA_TYPE
    assert manifest["subject"]["digest"] == image.digest
    [layer] = manifest["layers"]
    blob = registry_get(registry, f"/v2/sbom/attach/blobs/{layer['digest']}", "*/*")
    assert blob.content == SBOM
    assert json.loads(blob.content)["components"] == [{"name": "left-pad"}]


def test_attaching_the_same_sbom_twice_lists_it_once(registry: Registry, image: Pushed) -> None:
    with SbomRegistry(RegistryClient(registry.host)) as sboms:
        first = sboms.attach(image.repository, image.digest, SBOM)
        second = sboms.attach(image.repository, image.digest, SBOM)
        listed = sboms.referrers(image.repository, image.digest)["manifests"]

    assert first == second
    assert [m["digest"] for m in listed].count(first.manifest_digest) == 1


def test_another_sbom_is_added_beside_the_first_never_over_it(
    registry: Registry, docker_client: docker.DockerClient, base_image: str
) -> None:
    image = build_and_push(docker_client, registry, "sbom/two", base_image, {"b.txt": "b\n"})
    other = stable_sbom({"bomFormat": "CycloneDX", "components": []}, "another image")
    with SbomRegistry(RegistryClient(registry.host)) as sboms:
        first = sboms.attach(image.repository, image.digest, SBOM)
        second = sboms.attach(image.repository, image.digest, other)
        index = sboms.referrers(image.repository, image.digest)

    listed = [m["digest"] for m in index["manifests"]]
    assert listed == [first.manifest_digest, second.manifest_digest]


def test_a_tag_of_that_name_holding_an_image_is_left_alone_and_reported(
    registry: Registry, docker_client: docker.DockerClient, base_image: str
) -> None:
    image = build_and_push(docker_client, registry, "sbom/taken", base_image, {"c.txt": "c\n"})
    squatter = "sha256-" + image.digest.removeprefix("sha256:")
    manifest = registry_get(
        registry,
        f"/v2/sbom/taken/manifests/{image.digest}",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
    httpx.put(
        f"{registry.url}/v2/sbom/taken/manifests/{squatter}",
        content=manifest.content,
        headers={"Content-Type": manifest.headers["content-type"]},
        timeout=10,
    ).raise_for_status()

    with (
        SbomRegistry(RegistryClient(registry.host)) as sboms,
        pytest.raises(PermanentError, match="left as"),
    ):
        sboms.attach(image.repository, image.digest, SBOM)

    assert registry.manifest_digest("sbom/taken", squatter) == image.digest


def test_an_unreachable_registry_is_a_transient_error(image: Pushed) -> None:
    with (
        SbomRegistry(RegistryClient("127.0.0.1:9", timeout=2)) as sboms,
        pytest.raises(TransientError, match="unreachable"),
    ):
        sboms.attach("127.0.0.1:9/sbom/attach", image.digest, SBOM)


# --- a registry with the referrers API ------------------------------------------------------


class ReferrersRegistry:
    """An in-process stand-in for a registry implementing distribution-spec 1.1, checked
    against the spec's text (opencontainers/distribution-spec spec.md): "Pushing Manifests with
    Subject" (a registry supporting the referrers API MUST answer the push of a manifest with
    `subject` with the header `OCI-Subject: <subject digest>`) and "Listing Referrers"
    (`GET /v2/<name>/referrers/<digest>` MUST answer 200 with an image index of the
    descriptors, `artifactType` set, content type application/vnd.oci.image.index.v1+json).
    Blob uploads follow "POST then PUT"; everything kept in memory, every request recorded."""

    def __init__(self, subject_digest: str) -> None:
        self.subject_digest = subject_digest
        self.blobs: dict[str, bytes] = {}
        self.manifests: dict[str, tuple[str, bytes]] = {
            subject_digest: (OCI_MANIFEST, b'{"schemaVersion":2}')
        }
        self.requests: list[tuple[str, str]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append((request.method, request.url.path))
        parts = request.url.path.split("/")
        if request.method == "HEAD" and parts[-2] == "blobs":
            return httpx.Response(200 if parts[-1] in self.blobs else 404)
        if request.method == "POST" and request.url.path.endswith("/blobs/uploads/"):
            return httpx.Response(202, headers={"Location": "/v2/app/blobs/uploads/u1"})
        if request.method == "PUT" and "uploads" in parts:
            self.blobs[request.url.params["digest"]] = request.content
            return httpx.Response(201)
        if parts[-2] == "manifests":
            return self._manifest(request, parts[-1])
        if parts[-2] == "referrers":
            return httpx.Response(
                200,
                json={"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": self._referrers()},
                headers={"Content-Type": OCI_INDEX},
            )
        return httpx.Response(404)

    def _manifest(self, request: httpx.Request, reference: str) -> httpx.Response:
        if request.method == "PUT":
            self.manifests[reference] = (request.headers["content-type"], request.content)
            subject = json.loads(request.content).get("subject") or {}
            headers = {"OCI-Subject": subject["digest"]} if subject else {}
            return httpx.Response(201, headers=headers)
        if reference not in self.manifests:
            return httpx.Response(404)
        media_type, content = self.manifests[reference]
        return httpx.Response(200, content=content, headers={"Content-Type": media_type})

    def _referrers(self) -> list[dict[str, Any]]:
        found = []
        for _, content in self.manifests.values():
            manifest = json.loads(content)
            if (manifest.get("subject") or {}).get("digest") == self.subject_digest:
                digest = "sha256:" + hashlib.sha256(content).hexdigest()
                found.append({"digest": digest, "artifactType": manifest["artifactType"]})
        return found


def test_a_registry_with_the_referrers_api_lists_the_sbom_itself_and_gets_no_tag() -> None:
    subject = "sha256:" + "5" * 64
    stand_in = ReferrersRegistry(subject)
    client = RegistryClient("127.0.0.1:5999", transport=httpx.MockTransport(stand_in))
    with SbomRegistry(client) as sboms:
        attached = sboms.attach("127.0.0.1:5999/app", subject, SBOM)
        listed = sboms.referrers("127.0.0.1:5999/app", subject)["manifests"]

    assert (attached.listed_by, attached.tag) == ("referrers-api", "")
    assert [m["artifactType"] for m in listed] == [SBOM_MEDIA_TYPE]
    assert not [path for _, path in stand_in.requests if "sha256-" in path]


def test_an_upload_url_on_another_host_is_refused() -> None:
    def elsewhere(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(202, headers={"Location": "https://evil.example/upload"})
        if request.url.path.endswith("5" * 64):
            return httpx.Response(200, content=b"{}", headers={"Content-Type": OCI_MANIFEST})
        return httpx.Response(404)

    client = RegistryClient("127.0.0.1:5999", transport=httpx.MockTransport(elsewhere))
    with (
        SbomRegistry(client) as sboms,
        pytest.raises(PermanentError, match="upload URL on another host"),
    ):
        sboms.attach("127.0.0.1:5999/app", "sha256:" + "5" * 64, SBOM)

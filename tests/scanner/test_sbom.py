"""The SBOM made stable for its image, and the OCI shapes that attach it. Pure."""

from __future__ import annotations

import json

import pytest

from services.common.errors import PermanentError
from services.scanner.sbom import (
    OCI_INDEX,
    SBOM_MEDIA_TYPE,
    Descriptor,
    artifact_manifest,
    referrer_descriptor,
    referrers_tag,
    stable_sbom,
    with_referrer,
)

IMAGE = "127.0.0.1:5000/shop/cart@sha256:" + "ab" * 32


def trivy_sbom(serial: str, timestamp: str) -> dict[str, object]:
    return {
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": f"urn:uuid:{serial}",
        "metadata": {"timestamp": timestamp, "component": {"name": IMAGE}},
        "components": [{"name": "requests", "version": "2.31.0"}],
        "vulnerabilities": [{"id": "CVE-2024-35195"}],
    }


def test_two_scans_of_one_image_give_the_same_sbom_bytes() -> None:
    first = stable_sbom(trivy_sbom("1" * 8, "2026-12-06T10:00:00Z"), IMAGE)
    second = stable_sbom(trivy_sbom("2" * 8, "2026-12-07T11:00:00Z"), IMAGE)

    assert first == second
    kept = json.loads(first)
    assert "vulnerabilities" not in kept and "timestamp" not in kept["metadata"]
    assert kept["components"] == [{"name": "requests", "version": "2.31.0"}]
    another_image = json.loads(stable_sbom(trivy_sbom("1", "t"), IMAGE.replace("ab", "cd")))
    assert kept["serialNumber"] != another_image["serialNumber"]


def test_a_document_that_is_not_cyclonedx_is_refused() -> None:
    with pytest.raises(PermanentError, match="not a CycloneDX document"):
        stable_sbom({"spdxVersion": "SPDX-2.3"}, IMAGE)


def test_the_referrers_tag_is_the_algorithm_a_dash_and_the_hex() -> None:
    assert referrers_tag("sha256:" + "ab" * 32) == "sha256-" + "ab" * 32
    assert referrers_tag("a+b:c=d") == "a-b-c-d"


def test_the_artifact_refers_to_the_image_and_carries_the_sbom_as_its_one_layer() -> None:
    subject = Descriptor.of(b"{}", "application/vnd.oci.image.manifest.v1+json")
    sbom = stable_sbom(trivy_sbom("1", "t"), IMAGE)

    manifest = json.loads(artifact_manifest(subject, sbom))

    assert manifest["artifactType"] == SBOM_MEDIA_TYPE
    assert manifest["subject"] == subject.as_json()
    [layer] = manifest["layers"]
    assert layer["digest"] == Descriptor.of(sbom, SBOM_MEDIA_TYPE).digest
    assert layer["annotations"] == {"org.opencontainers.image.title": "sbom.cdx.json"}
    assert manifest["config"]["mediaType"] == "application/vnd.oci.empty.v1+json"


def test_the_referrers_index_lists_an_artifact_once_and_keeps_the_others() -> None:
    subject = Descriptor.of(b"{}", "application/vnd.oci.image.manifest.v1+json")
    entry = referrer_descriptor(artifact_manifest(subject, b"{}"))
    other = {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:1"}

    index = with_referrer({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [other]}, entry)

    assert index is not None
    assert index["manifests"] == [other, entry.as_json()]
    assert entry.as_json()["artifactType"] == SBOM_MEDIA_TYPE
    assert with_referrer(index, entry) is None
    assert with_referrer(None, entry) == {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [entry.as_json()],
    }


def test_a_referrers_tag_holding_something_else_is_refused_not_overwritten() -> None:
    entry = Descriptor.of(b"x", "application/vnd.oci.image.manifest.v1+json")

    with pytest.raises(PermanentError, match="other than an OCI image index"):
        with_referrer({"schemaVersion": 2, "config": {}, "layers": []}, entry)

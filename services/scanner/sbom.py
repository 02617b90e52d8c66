"""An image's CycloneDX SBOM and the OCI shapes that attach it to the image. Pure.

The SBOM kept and attached is Trivy's CycloneDX made stable for the image: the serial number
derived from the image's digest, no timestamp and no vulnerabilities (those change with the
vulnerability DB; the scan's own reports hold them). So scanning one image twice gives the
same bytes, the same blob digest and the same artifact manifest: redelivery attaches nothing
new.

The artifact is an OCI image manifest (image-spec 1.1 artifact guidance): ``artifactType``
``application/vnd.cyclonedx+json``, the empty config, one layer (the SBOM, titled so
``oras pull`` writes it to a file) and ``subject`` the image's manifest descriptor. Where the
registry has no referrers API, its descriptor goes into the image index under the referrers
tag (distribution-spec 1.1, "Referrers Tag Schema"), listed once.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from typing import Any

from pydantic import Field

from services.common.errors import PermanentError
from services.common.event_base import Model

SBOM_MEDIA_TYPE = "application/vnd.cyclonedx+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
EMPTY_CONFIG_TYPE = "application/vnd.oci.empty.v1+json"
EMPTY_CONFIG = b"{}"
SBOM_FILE_NAME = "sbom.cdx.json"
TITLE = "org.opencontainers.image.title"
_NOT_IN_TAG = re.compile(r"[^A-Za-z0-9_.-]")


class Descriptor(Model):
    """An OCI content descriptor, as manifests and indexes list them."""

    media_type: str = Field(alias="mediaType")
    digest: str = Field(pattern=r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[A-Za-z0-9=_-]+$")
    size: int = Field(ge=0)
    artifact_type: str | None = Field(default=None, alias="artifactType")
    annotations: dict[str, str] | None = None

    @classmethod
    def of(cls, blob: bytes, media_type: str, **extra: Any) -> Descriptor:
        digest = "sha256:" + hashlib.sha256(blob).hexdigest()
        return cls.model_validate(
            {"mediaType": media_type, "digest": digest, "size": len(blob), **extra}
        )

    def as_json(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True)


def stable_sbom(cyclonedx: dict[str, Any], image_by_digest: str) -> bytes:
    """Trivy's CycloneDX of `image_by_digest`, as bytes that depend on the image only."""
    if not isinstance(cyclonedx, dict) or cyclonedx.get("bomFormat") != "CycloneDX":
        raise PermanentError("trivy's SBOM is not a CycloneDX document (no bomFormat CycloneDX)")
    kept = {key: value for key, value in cyclonedx.items() if key != "vulnerabilities"}
    kept["serialNumber"] = f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, image_by_digest)}"
    metadata = kept.get("metadata")
    if isinstance(metadata, dict):
        kept["metadata"] = {key: value for key, value in metadata.items() if key != "timestamp"}
    return json.dumps(kept, sort_keys=True, separators=(",", ":")).encode()


def component_count(sbom: bytes) -> int:
    components = json.loads(sbom).get("components") or []
    return len(components) if isinstance(components, list) else 0


def artifact_manifest(subject: Descriptor, sbom: bytes) -> bytes:
    """The artifact manifest attaching `sbom` to the image `subject` describes."""
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": SBOM_MEDIA_TYPE,
        "config": Descriptor.of(EMPTY_CONFIG, EMPTY_CONFIG_TYPE).as_json(),
        "layers": [
            Descriptor.of(sbom, SBOM_MEDIA_TYPE, annotations={TITLE: SBOM_FILE_NAME}).as_json()
        ],
        "subject": subject.as_json(),
    }
    return json.dumps(manifest, separators=(",", ":")).encode()


def referrer_descriptor(manifest: bytes) -> Descriptor:
    """How a referrers list names an artifact manifest: its artifactType and annotations."""
    parsed = json.loads(manifest)
    extra: dict[str, Any] = {"artifactType": parsed.get("artifactType")}
    if parsed.get("annotations"):
        extra["annotations"] = parsed["annotations"]
    return Descriptor.of(manifest, OCI_MANIFEST, **extra)


def referrers_tag(digest: str) -> str:
    """The referrers tag schema's tag of `digest`: `sha256-<hex>`."""
    algorithm, _, encoded = digest.partition(":")
    return _NOT_IN_TAG.sub("-", f"{algorithm[:32]}-{encoded[:64]}")


def with_referrer(index: dict[str, Any] | None, entry: Descriptor) -> dict[str, Any] | None:
    """The referrers index listing `entry` too, or None when it already does.

    `index` is what the referrers tag holds (None: no tag yet). Anything but an image index
    there is refused, as the spec says, rather than overwritten."""
    if index is None:
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
    manifests = index.get("manifests")
    if index.get("mediaType", OCI_INDEX) != OCI_INDEX or not isinstance(manifests, list):
        raise PermanentError("the referrers tag holds something other than an OCI image index")
    if listed_in(index, entry.digest):
        return None
    return {**index, "manifests": [*manifests, entry.as_json()]}


def listed_in(index: dict[str, Any], digest: str) -> bool:
    manifests = index.get("manifests")
    return isinstance(manifests, list) and any(
        isinstance(m, dict) and m.get("digest") == digest for m in manifests
    )

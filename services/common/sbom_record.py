"""What a scan records about its image's SBOM: part of the scan events' contract."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from services.common.event_base import Model


class SbomRecord(Model):
    """The image's CycloneDX SBOM: kept with the run, attached to the image in its registry,
    or why not (a failure here never blocks the deploy)."""

    digest: str = Field(default="", description="sha256 of the SBOM kept with the run")
    components: int = Field(default=0, description="components the SBOM lists")
    artifact: str = Field(
        default="", description="digest of the OCI artifact manifest that refers to the image"
    )
    listed_by: Literal["referrers-api", "referrers-tag", ""] = Field(
        default="", description="how tools find it: the registry's referrers API or the tag"
    )
    tag: str = Field(default="", description="the referrers tag (sha256-<hex>) listing it")
    error: str = Field(default="", description="why it was not made or not attached")

"""What a scan records about its image's SBOM, and where the record is kept."""

from __future__ import annotations

from typing import Literal

import redis
from pydantic import Field

from services.common.event_base import Model
from services.common.json_records import JsonRecords
from services.common.keyspace import DEFAULT_KEYSPACE, Keyspace
from services.common.redis_types import RedisClient

RECORD_TTL = 30 * 24 * 3600  # as long as the scan's verdict


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


class SbomRecords:
    """Each scan's SbomRecord, at `keys.scan_sbom(run_id, service)`: the scanner makes the
    SBOM after it published its decision (services/common/after_publish.py), so the record
    is kept apart from the decision's event; the scan API reads it from here."""

    def __init__(
        self, client: redis.Redis | RedisClient, *, keys: Keyspace = DEFAULT_KEYSPACE
    ) -> None:
        self._records, self._keys = JsonRecords(client, SbomRecord, RECORD_TTL), keys

    def put(self, run_id: str, service: str, record: SbomRecord) -> None:
        self._records.put(self._keys.scan_sbom(run_id, service), record)

    def get(self, run_id: str, service: str) -> SbomRecord | None:
        return self._records.get(self._keys.scan_sbom(run_id, service))

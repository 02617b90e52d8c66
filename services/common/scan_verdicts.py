"""What the scanner concluded about each image, kept where the committer looks before it
deploys: the committer writes an image only when the scanner itself recorded that it passed
(or that a person skipped the scan, and who and why) — an event that merely says so is not
enough.

One Redis key per image (`repository@digest`); the newest verdict wins, so an image
blocked by a later scan is not deployed on the strength of an older pass. A passed verdict
also lives in git, as the `Shipline-Image` trailer of the commit that deployed the image: a
promotion finds it there again when Redis lost the key (`recovered_from` names that commit).
"""

from __future__ import annotations

from typing import Literal

import redis
from pydantic import BaseModel, ConfigDict

from services.common.events import ScanFailed, ScanPassed
from services.common.json_records import JsonRecords
from services.common.keyspace import DEFAULT_KEYSPACE, Keyspace
from services.common.redis_types import RedisClient

VERDICT_TTL = 30 * 24 * 3600  # a release may wait long for its last scan; replays later still

Outcome = Literal["passed", "failed", "skipped"]


class ScanVerdict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    image_repository: str
    digest: str
    service: str
    outcome: Outcome
    run_id: str
    policy: str = ""
    skipped_by: str = ""  # outcome "skipped": who asked for the bypass, and why
    skip_reason: str = ""
    # a passed verdict found again in git after Redis lost it: the gitops commit whose
    # Shipline-Image trailer names this digest (services/committer/scan_evidence.py)
    recovered_from: str = ""

    @classmethod
    def of(cls, scan: ScanPassed | ScanFailed) -> ScanVerdict:
        """The verdict a scan outcome the scanner just reached stands for."""
        skipped = scan.skipped if isinstance(scan, ScanPassed) else None
        outcome: Outcome = "failed" if isinstance(scan, ScanFailed) else "passed"
        return cls(
            image_repository=scan.image_repository,
            digest=scan.digest,
            service=scan.service,
            outcome="skipped" if skipped else outcome,
            run_id=scan.run_id,
            policy=scan.policy,
            skipped_by=skipped.by if skipped else "",
            skip_reason=skipped.reason if skipped else "",
        )


class ScanVerdicts:
    """One JSON verdict per image, at `keys.scan_verdict(repository, digest)`; an unreadable
    one is as good as no verdict."""

    def __init__(
        self,
        client: redis.Redis | RedisClient,
        ttl: int = VERDICT_TTL,
        *,
        keys: Keyspace = DEFAULT_KEYSPACE,
    ) -> None:
        self._records, self._keys = JsonRecords(client, ScanVerdict, ttl), keys

    def record(self, verdict: ScanVerdict) -> None:
        self._records.put(
            self._keys.scan_verdict(verdict.image_repository, verdict.digest), verdict
        )

    def get(self, image_repository: str, digest: str) -> ScanVerdict | None:
        return self._records.get(self._keys.scan_verdict(image_repository, digest))

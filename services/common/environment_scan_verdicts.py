"""An image's scan outcome under an environment's own scan policy (shipline.yaml
`environments[].scan`), kept when a promotion into that environment re-judged it.

Kept beside, never instead of, the scanner's verdict (scan_verdicts.py): the image still
runs where it was first deployed, under the policy that passed it there. Each outcome names
the policy's fingerprint; a promotion under another policy judges the image again.
"""

from __future__ import annotations

import redis
from pydantic import BaseModel, ConfigDict

from services.common.events import ScanFailed, ScanPassed
from services.common.json_records import JsonRecords
from services.common.keyspace import DEFAULT_KEYSPACE, Keyspace
from services.common.redis_types import RedisClient
from services.common.scan_verdicts import VERDICT_TTL, ScanVerdict


class EnvironmentVerdict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    environment: str
    fingerprint: str  # of the policy it was judged under (services/scanner/policy.py)
    outcome: ScanPassed | ScanFailed  # the findings that broke the policy, when it did

    @property
    def verdict(self) -> ScanVerdict:
        return ScanVerdict.of(self.outcome)


class EnvironmentVerdicts:
    """One JSON outcome per (environment, image), at `keys.environment_scan_verdict`; an
    unreadable one is judged again."""

    def __init__(
        self,
        client: redis.Redis | RedisClient,
        ttl: int = VERDICT_TTL,
        *,
        keys: Keyspace = DEFAULT_KEYSPACE,
    ) -> None:
        self._records, self._keys = JsonRecords(client, EnvironmentVerdict, ttl), keys

    def record(self, judged: EnvironmentVerdict) -> None:
        outcome = judged.outcome
        key = self._key(judged.environment, outcome.image_repository, outcome.digest)
        self._records.put(key, judged)

    def get(
        self, environment: str, image_repository: str, digest: str
    ) -> EnvironmentVerdict | None:
        return self._records.get(self._key(environment, image_repository, digest))

    def _key(self, environment: str, image_repository: str, digest: str) -> str:
        return self._keys.environment_scan_verdict(environment, image_repository, digest)

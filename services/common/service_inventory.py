"""The service inventory: what each configured repository deploys, as the workers last read
it from git, kept in Redis so the gateway answers `GET /api/v1/services` (and checks a
service name) without git or network of its own.

The detector records a repository after a push to its default branch, the committer after
each commit it writes (services/committer/survey.py reads git and calls `record`). One key
per repository, no expiry: a newer survey replaces an older one, never the reverse.
"""

from __future__ import annotations

import time

import redis
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.common.keyspace import DEFAULT_KEYSPACE, Keyspace
from services.common.redis_types import RedisClient, bytes_client

_RECORD_IF_NEWER = """
local old = redis.call('GET', KEYS[1])
if old then
  local ok, was = pcall(cjson.decode, old)
  if ok and type(was) == 'table' and tonumber(was['surveyed_at'] or 0) > tonumber(ARGV[2]) then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[1])
return 1
"""


class ServiceRow(BaseModel):
    """One service: the image its manifest names at the gitops branch head."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    service: str
    image: str | None  # None: the manifest is missing or unreadable (`problem` says why)
    manifest: str
    gitops_repository: str
    gitops_commit: str
    cluster: str | None = None
    image_repository: str
    problem: str | None = None
    # against the default branch head (services/committer/drift.py); None: unknown
    deployed_commit: str | None = None  # the source commit the service runs
    desired_commit: str | None = None  # the commit a build brings it to
    behind_by: int | None = None  # commits since deployed_commit that change it


class Survey(BaseModel):
    """A repository's services at its default branch head `commit`; `error`: why the last
    survey could not read it (the services are then those of the survey before)."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    repository: str
    commit: str = ""
    surveyed_at: float = Field(default_factory=time.time)
    services: tuple[ServiceRow, ...] = ()
    error: str | None = None

    def row(self, service: str) -> ServiceRow | None:
        return next((row for row in self.services if row.service == service), None)


class InventoryStore:
    """One JSON survey per repository, at `keys.inventory(repository)`."""

    def __init__(
        self, client: redis.Redis | RedisClient, *, keys: Keyspace = DEFAULT_KEYSPACE
    ) -> None:
        self._redis = bytes_client(client)
        self._keys = keys
        self._record = self._redis.register_script(_RECORD_IF_NEWER)

    def record(self, survey: Survey) -> bool:
        """Keep `survey` unless a newer one is recorded; True when kept."""
        keys = [self._keys.inventory(survey.repository)]
        return bool(self._record(keys=keys, args=[survey.model_dump_json(), survey.surveyed_at]))

    def read(self, repository: str) -> Survey | None:
        raw = self._redis.get(self._keys.inventory(repository))
        if raw is None:
            return None
        try:
            return Survey.model_validate_json(raw)
        except ValidationError:
            return None  # written by another version: the next survey replaces it

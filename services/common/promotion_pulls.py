"""The promotions waiting for their pull request to be merged, kept in Redis.

The committer records one when it opens (or updates) a promotion's pull request: the run, the
environment and the ManifestCommitted each service gets once the merge lands. The gateway
reads it to know whose run a signed pull-request webhook continues; the reconciler reads the
open ones to ask the host about any whose webhook never came. A closed request's record is
kept a week once the committer has answered it (a redelivery answers the same).
"""

from __future__ import annotations

import uuid
from typing import Literal

import redis
from pydantic import BaseModel, ConfigDict, ValidationError

from services.common.events import ManifestCommitted, PullRequestClosed
from services.common.keyspace import DEFAULT_KEYSPACE, Keyspace
from services.common.logging import get_logger
from services.common.redis_types import RedisClient, bytes_client

ANSWERED_TTL = 7 * 24 * 3600
# a redelivered webhook, or the reconciler reading the same close, is the same event
_CLOSES = uuid.UUID("0b8f6a53-2d4e-4c1f-9a57-5f0e3c6d7a21")


class PendingPromotion(BaseModel):
    """A promotion whose commit waits in an open pull request."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    run_id: str
    repository: str  # the source repository (its settings entry)
    environment: str
    gitops_repository: str
    number: int
    url: str
    branch: str  # the pull request's head branch
    commit: str  # the promotion's commit on it
    # what each service's ManifestCommitted says once merged (its gitops_commit: `commit`)
    committed: tuple[ManifestCommitted, ...] = ()


class PromotionPulls:
    def __init__(
        self, client: redis.Redis | RedisClient, *, keys: Keyspace = DEFAULT_KEYSPACE
    ) -> None:
        self._redis, self._keys = bytes_client(client), keys

    def record(self, pending: PendingPromotion) -> None:
        key = self._keys.promotion_pull(pending.gitops_repository, pending.number)
        self._redis.set(key, pending.model_dump_json())
        self._redis.sadd(self._keys.promotion_pulls, key)

    def get(self, gitops_repository: str, number: int) -> PendingPromotion | None:
        return self._read(self._keys.promotion_pull(gitops_repository, number))

    def answered(self, gitops_repository: str, number: int) -> None:
        """The request is closed and answered: no longer open, its record kept a while so a
        redelivered answer gives the same events again."""
        key = self._keys.promotion_pull(gitops_repository, number)
        self._redis.srem(self._keys.promotion_pulls, key)
        self._redis.expire(key, ANSWERED_TTL)

    def open(self) -> list[PendingPromotion]:
        """Every promotion waiting for its merge, oldest run first."""
        keys = sorted(k.decode() for k in self._redis.smembers(self._keys.promotion_pulls))
        pending = [found for key in keys if (found := self._read(key)) is not None]
        return sorted(pending, key=lambda p: p.run_id)

    def _read(self, key: str) -> PendingPromotion | None:
        try:
            raw = self._redis.get(key)
            return PendingPromotion.model_validate_json(raw) if raw else None
        except ValidationError as exc:
            get_logger().warning("pending promotion not read", error=type(exc).__name__)
            return None


def closed_event(
    pending: PendingPromotion,
    merged: bool,
    sha: str | None,
    via: Literal["webhook", "host"] = "webhook",
) -> PullRequestClosed:
    """The close as the committer gets it, with the id every report of it shares."""
    key = f"{pending.gitops_repository}#{pending.number}:{pending.run_id}:{merged}"
    return PullRequestClosed(
        event_id=uuid.uuid5(_CLOSES, key),
        run_id=pending.run_id,
        gitops_repository=pending.gitops_repository,
        number=pending.number,
        merged=merged,
        merge_commit_sha=sha if merged and sha and len(sha) == 40 else None,
        via=via,
    )

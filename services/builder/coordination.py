"""What builders agree on through Redis: the newest build of each service and branch, one
build per image and commit, and the last tag each branch pushed.

*Newest*: every ChangeDetected a builder picks up registers itself for (repository, ref,
service) unless a newer one (detected later) already did; a build that finds a newer one
registered, when it starts or while it runs, is superseded. The same commit never
supersedes itself: two requests for one commit are the lease's business.

*Lease*: one builder at a time builds an image repository at a commit; others wait for it
and then find the image in the registry. The holder renews the lease while it builds, so the
lease of a builder that died lapses within seconds. A lease Redis lost (a wipe, a failover)
is taken again by its holder at the next renewal; a holder that finds another builder's
token instead has lost it and must stop before it pushes.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import redis

from services.common.errors import TransientError
from services.common.events import ChangeDetected
from services.common.keyspace import DEFAULT_KEYSPACE, Keyspace
from services.common.redis_types import RedisClient, bytes_client

NEWEST_TTL = 7 * 24 * 3600
LEASE_SECONDS = 15.0

# KEYS[1] newest key; ARGV: event id, detected-at, record, ttl.
# Returns the record that stays newest when it is not this event's own, else nil.
_CLAIM = """
local current = redis.call('GET', KEYS[1])
if current then
  local newest = cjson.decode(current)
  if newest.event_id == ARGV[1] then
    return nil
  end
  local at, mine = tonumber(newest.at), tonumber(ARGV[2])
  if at > mine or (at == mine and newest.event_id > ARGV[1]) then
    return current
  end
end
redis.call('SET', KEYS[1], ARGV[3], 'EX', ARGV[4])
return nil
"""
_RENEW = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


@dataclass(frozen=True)
class Newer:
    """The newer build that supersedes one."""

    commit: str
    run_id: str


class Lease:
    """Held while building one image at one commit; renew() keeps it, the context frees it."""

    def __init__(self, client: RedisClient, key: str, token: str, seconds: float) -> None:
        self._redis, self._key, self._token, self._seconds = client, key, token, seconds

    def renew(self) -> bool:
        """Keep the lease (taking it again if Redis lost it); False: another builder holds it."""
        return bool(self._redis.eval(_RENEW, 1, self._key, self._token, int(self._seconds * 1000)))

    def release(self) -> None:
        self._redis.eval(_RELEASE, 1, self._key, self._token)


class Coordinator:
    def __init__(
        self,
        client: redis.Redis | RedisClient,
        lease_seconds: float = LEASE_SECONDS,
        *,
        keys: Keyspace = DEFAULT_KEYSPACE,
    ) -> None:
        self._redis, self._keys = bytes_client(client), keys
        self._lease_seconds = lease_seconds

    # --- newest build of a service and branch -------------------------------------------

    def claim_newest(self, change: ChangeDetected) -> Newer | None:
        """Register `change` as its service and branch's newest build, or name the newer one."""
        record = json.dumps(
            {
                "event_id": str(change.event_id),
                "at": change.occurred_at.timestamp(),
                "commit": change.source.commit,
                "run_id": change.run_id,
            }
        )
        current = self._redis.eval(
            _CLAIM,
            1,
            self._newest_key(change),
            str(change.event_id),
            change.occurred_at.timestamp(),
            record,
            NEWEST_TTL,
        )
        return _newer(change, current)

    def newer_than(self, change: ChangeDetected) -> Newer | None:
        """The newer build registered since `change` claimed, if there is one."""
        current = self._redis.get(self._newest_key(change))
        if current is None:
            return None
        if json.loads(current).get("event_id") == str(change.event_id):
            return None
        return _newer(change, current)

    # --- one build per image and commit ---------------------------------------------------

    @contextlib.contextmanager
    def lease(self, image_repository: str, commit: str, wait: float) -> Iterator[Lease]:
        """Hold the build of `image_repository` at `commit`, waiting up to `wait` seconds for it."""
        key = self._keys.build_lease(image_repository, commit)
        token = uuid.uuid4().hex
        deadline = time.monotonic() + wait
        millis = int(self._lease_seconds * 1000)
        while not self._redis.set(key, token, nx=True, px=millis):
            if time.monotonic() >= deadline:
                raise TransientError(
                    f"another builder is still building {image_repository} at {commit[:7]}"
                )
            time.sleep(0.2)
        lease = Lease(self._redis, key, token, self._lease_seconds)
        try:
            yield lease
        finally:
            lease.release()

    # --- the last tag a branch pushed: the next build's cache source ---------------------

    def last_tag(self, image_repository: str, ref: str) -> str | None:
        value = self._redis.get(self._keys.last_tag(image_repository, ref))
        return value.decode() if value else None

    def remember_tag(self, image_repository: str, ref: str, tag: str) -> None:
        self._redis.set(self._keys.last_tag(image_repository, ref), tag, ex=NEWEST_TTL)

    def _newest_key(self, change: ChangeDetected) -> str:
        return self._keys.newest_build(change.source.repository, change.source.ref, change.service)


def _newer(change: ChangeDetected, current: bytes | str | None) -> Newer | None:
    if current is None:
        return None
    newest = json.loads(current)
    if newest.get("commit") == change.source.commit:
        return None
    return Newer(commit=str(newest["commit"]), run_id=str(newest.get("run_id", "")))

"""The live state of each service in its cluster, for the services table (the Argo-like card):
the verifier's watches write it to Redis, the gateway reads it with one HGETALL per
cluster, so `GET /api/v1/services` never waits on a cluster.

Kept per cluster, keyed by image repository (the gateway knows each service's), with the
time it was observed: a stopped verifier leaves it visibly stale, never wrong silently.
"""

from __future__ import annotations

import json
import time
from typing import Any

import redis

from services.common.keyspace import DEFAULT_KEYSPACE, Keyspace
from services.common.redis_types import RedisClient, bytes_client
from services.verifier.rollout import (
    Snapshot,
    application_state,
    describe,
    find_application,
    image_repository,
    rollout_progress,
    template_images,
)


def live_states(snapshot: Snapshot) -> dict[str, dict[str, Any]]:
    """Per image repository: the workload running it, its replicas and its Application. Pure."""
    states: dict[str, dict[str, Any]] = {}
    for workload in sorted(snapshot.workloads, key=describe):
        spec, status = workload.get("spec", {}), workload.get("status", {})
        state = {
            "workload": describe(workload),
            "replicas": int(spec.get("replicas", 1)),
            "ready_replicas": int(status.get("readyReplicas", 0)),
            "updated_replicas": int(status.get("updatedReplicas", 0)),
            "rolled_out": rollout_progress(workload) is None,
            **application_state(find_application(snapshot.applications, workload)),
        }
        for image in template_images(workload):
            states.setdefault(image_repository(image), {"image": image, **state})
    return states


class LiveStore:
    """One hash per cluster, `keys.live(cluster)`: image repository → its state (JSON)."""

    def __init__(
        self, client: redis.Redis | RedisClient, *, keys: Keyspace = DEFAULT_KEYSPACE
    ) -> None:
        self._redis, self._keys = bytes_client(client), keys
        self._written: dict[str, dict[str, Any]] = {}

    def save(self, cluster: str, snapshot: Snapshot) -> None:
        """Write the cluster's live states, when they differ from the last ones written."""
        states = live_states(snapshot)
        if states == self._written.get(cluster):
            return
        observed = time.time()
        mapping = {
            repository: json.dumps({**state, "observed_at": observed})
            for repository, state in states.items()
        }
        pipe = self._redis.pipeline(transaction=True)
        pipe.delete(self._keys.live(cluster))
        if mapping:
            pipe.hset(self._keys.live(cluster), mapping=mapping)
        pipe.execute()
        self._written[cluster] = states

    def read(self, cluster: str) -> dict[str, dict[str, Any]]:
        """The cluster's live states by image repository ({} when none were written)."""
        raw = self._redis.hgetall(self._keys.live(cluster))
        return {key.decode(): json.loads(value) for key, value in raw.items()}

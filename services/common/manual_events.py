"""Events by hand (`POST /api/v1/events`, `shipline publish`): requests, never verdicts.

A token holder may ask for work — a build, a redeploy of an image already in the registry,
a rollback — but never assert what a stage concluded. The gateway rebuilds each accepted
request from configuration (services/gateway/manual.py) and a worker checks it against git
and the registry (a redeploy becomes a DeployRequested for the detector); this module holds what is
accepted, the id the published event gets, and the claim that keeps a hand event out of
every run but its own.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from services.common.eventlog import MARKER_TTL
from services.common.events import EVENT_TYPES, Envelope
from services.common.keyspace import Keyspace
from services.common.redis_types import RedisClient, bytes_client

if TYPE_CHECKING:
    import redis

TRIGGERS = ("BuildRequested", "ImagePushed", "RollbackRequested")
# Requests the API itself queues for a worker to resolve: by hand, they go through the API.
_BY_THE_API = {
    "ReleaseRequested": "POST /api/v1/releases (shipline release)",
    "DeployRequested": "an ImagePushed (a redeploy) or POST /api/v1/deployments",
    "UnpinRequested": "POST /api/v1/services/{service}/unpin (shipline unpin)",
}
# The published event's id is derived from the sender's: the same request sent again is
# recognised, yet no sender can pick the id of an event a stage will publish (uuid5 is a
# one-way hash), so a hand event cannot pre-empt or shadow the pipeline's own.
_HAND_EVENTS = uuid.UUID("6f1c3f5e-9a8e-4d35-8a51-2f0d7c0e9b17")


def refusal(event_type: str) -> str | None:
    """Why an event of this type may not be published by hand, or None for a request."""
    if event_type in TRIGGERS or event_type not in EVENT_TYPES:
        return None  # a request, or no event at all (decoding says why)
    if event_type in _BY_THE_API:
        return f"{event_type} is queued by the API itself: use {_BY_THE_API[event_type]}"
    return (
        f"{event_type} cannot be published by hand: it is what a stage (or a signed webhook) "
        "records; publish a request: BuildRequested (a build), ImagePushed (a redeploy of "
        "an image in the registry) or RollbackRequested; for a release, POST /api/v1/releases"
    )


def published_id(event: Envelope) -> uuid.UUID:
    return uuid.uuid5(_HAND_EVENTS, str(event.event_id))


def already_published(client: redis.Redis | RedisClient, keys: Keyspace, event: Envelope) -> bool:
    return bool(bytes_client(client).exists(keys.event_logged(event.event_id)))


def claim_run(
    client: redis.Redis | RedisClient,
    keys: Keyspace,
    run_id: str,
    event_id: uuid.UUID,
    run_exists: bool,
) -> bool:
    """True when `run_id` is this hand event's own: new, or claimed by this same event
    before (a retry after Redis went away). Any other run, hand or pipeline, is refused."""
    key = keys.hand_run(run_id)
    owner = "the pipeline" if run_exists else str(event_id)
    server = bytes_client(client)
    if server.set(key, owner, nx=True, ex=MARKER_TTL):
        return not run_exists
    claimed = server.get(key)
    return claimed is not None and claimed.decode() == str(event_id)

"""Deliver one notification to every channel: each at most once, none blocking the others.

Every channel that takes the event is tried. A delivery is remembered (``sent``) per run,
channel and outcome for a run summary, per event and channel otherwise, so a retry sends
only to the channels that have not had it yet. A channel that refuses for good
(PermanentError) is remembered too (``refused``) and never retried; the ones that failed
transiently are named in one TransientError raised after all the others were served, so the
stage runner retries them, with backoff, and only them.

A channel is asked with the event's environment only when one is known: a channel written
before environments takes the event and its call exactly as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from services.common.errors import PermanentError, TransientError
from services.common.events import Envelope
from services.common.keyspace import DEFAULT_KEYSPACE, Keyspace
from services.common.logging import get_logger
from services.notifier.channels import Channel
from services.notifier.routing import sent_key

if TYPE_CHECKING:
    import redis

SENT_TTL = 7 * 24 * 3600


class Markers(Protocol):
    def seen(self, key: str) -> bool: ...

    def mark(self, key: str, result: str) -> None: ...


class RedisMarkers:
    def __init__(self, client: redis.Redis, ttl: int = SENT_TTL) -> None:
        self._redis, self._ttl = client, ttl

    def seen(self, key: str) -> bool:
        return bool(self._redis.exists(key))

    def mark(self, key: str, result: str) -> None:
        self._redis.set(key, result, ex=self._ttl)


def deliver(
    event: Envelope,
    channels: Sequence[Channel],
    markers: Markers,
    keys: Keyspace = DEFAULT_KEYSPACE,
    environment: str | None = None,
) -> list[str]:
    """Send ``event`` where it is due; returns the permanent refusals, raises on transient ones.
    ``environment``: the one the event is in (None: none known)."""
    log = get_logger()
    retry, refused = [], []
    where = {"environment": environment} if environment else {}
    for channel in channels:
        shown = channel.select(event, **where)
        if shown is None:
            continue
        key = sent_key(shown, channel.name, keys)
        if markers.seen(key):
            continue
        try:
            channel.send(shown, **where)
        except TransientError as exc:
            log.warning("notification failed, will retry", channel=channel.name, error=str(exc))
            retry.append(str(exc))
            continue
        except PermanentError as exc:
            log.error("notification refused", channel=channel.name, error=str(exc))
            markers.mark(key, "refused")
            refused.append(str(exc))
            continue
        except Exception as exc:  # noqa: BLE001 - a bug in one channel must not silence the others
            # Only the class: an unexpected message could hold a URL or a credential.
            error = f"{channel.name}: unexpected {type(exc).__name__}"
            log.error("notification failed unexpectedly, will retry", channel=channel.name)
            retry.append(error)
            continue
        markers.mark(key, "sent")
        log.info("notified", channel=channel.name, event_type=event.type)
    if retry:
        raise TransientError("notification failed on " + "; ".join(retry))
    return refused

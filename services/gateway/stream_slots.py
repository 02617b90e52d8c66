"""How many live event streams may be open at once: per client address, per API token, and
in all (server settings `limits.event_streams_per_client` and `limits.event_streams_total`).

Counted per gateway process. Routes take a slot before the stream starts, so the one over
the limit is answered 429 with the reason; the response gives the slot back when the
stream ends, however it ends.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence

from starlette.requests import Request

from services.common.api_tokens import ApiToken
from services.common.limits import Limits
from services.gateway.auth import token_identity


class TooManyStreams(Exception):  # noqa: N818 - answered 429 by the route
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Slot:
    """One open stream's share of the limits; `release` may be called more than once."""

    def __init__(self, slots: StreamSlots, owners: Sequence[str]) -> None:
        self._slots = slots
        self._owners = tuple(owners)
        self._released = False

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._slots.give_back(self._owners)


class StreamSlots:
    def __init__(self, limits: Limits) -> None:
        self._per_client = limits.event_streams_per_client
        self._total = limits.event_streams_total
        self._open: Counter[str] = Counter()
        self._all = 0
        self._lock = threading.Lock()  # routes that take slots may run in worker threads

    def take(self, owners: Sequence[str]) -> Slot:
        """A slot for a stream opened by `owners` (its address, its token), or TooManyStreams."""
        with self._lock:
            if self._all >= self._total:
                raise TooManyStreams(
                    f"too many open event streams ({self._total}, "
                    "limits.event_streams_total); retry later"
                )
            for owner in owners:
                if self._open[owner] >= self._per_client:
                    raise TooManyStreams(
                        f"too many open event streams for this {owner.partition(':')[0]} "
                        f"({self._per_client}, limits.event_streams_per_client); close one first"
                    )
            self._all += 1
            self._open.update(owners)
        return Slot(self, owners)

    def give_back(self, owners: Sequence[str]) -> None:
        with self._lock:
            self._all -= 1
            self._open.subtract(owners)
            for owner in owners:
                if self._open[owner] <= 0:
                    del self._open[owner]

    def open_streams(self) -> int:
        return self._all


def owners_of(request: Request, api_tokens: list[ApiToken]) -> list[str]:
    """Whom a stream counts against: the client's address, and the API token it presented
    (by its place in the settings, never its value); a token not in the settings counts
    for nothing beyond the address."""
    owners = [f"client:{request.client.host if request.client else 'unknown'}"]
    known = getattr(request.state, "caller", None)  # auth.read_access: by token or ticket
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    caller = known.identity if known else None
    if caller is None and scheme.lower() == "bearer":
        caller = token_identity(token.strip(), api_tokens)
    if caller is not None:
        owners.append(f"token:{caller}")
    return owners

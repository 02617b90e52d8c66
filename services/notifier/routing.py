"""Which notifications a channel is sent, and what it is shown of them. Pure.

A channel's settings filter by event type, by service (names or globs), by outcome
(succeeded, failed, blocked, held, ... taken as they come, so a new outcome needs no code
here) and by environment. A run summary sent to a channel that follows only some services
is narrowed to those services, its status recomputed from theirs.

The environment is the one the notifier derived from what the pipeline recorded
(event_environment.py), never a field of the event. A channel that names environments takes
an event only when its environment is known and listed: an event of a project without
`environments:` (its one place has no name) or of no known environment goes only to the
channels that name none.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

from services.common.events import Envelope, RunCompleted
from services.common.keyspace import DEFAULT_KEYSPACE, Keyspace
from services.common.run_records import overall_status
from services.common.settings import ChannelSettings
from services.notifier.messages import outcome


@dataclass(frozen=True)
class Route:
    events: frozenset[str] | None = None  # None: every event
    services: tuple[str, ...] | None = None
    outcomes: frozenset[str] | None = None
    environments: frozenset[str] | None = None  # None: in any environment, or in none

    @classmethod
    def of(cls, settings: ChannelSettings) -> Route:
        return cls(
            events=None if settings.events is None else frozenset(settings.events),
            services=None if settings.services is None else tuple(settings.services),
            outcomes=None if settings.outcomes is None else frozenset(settings.outcomes),
            environments=(
                None if settings.environments is None else frozenset(settings.environments)
            ),
        )

    def select(self, event: Envelope, environment: str | None = None) -> Envelope | None:
        """The event as this route shows it, or None when the route does not take it.
        `environment`: the one the event is in (None: none known)."""
        if self.events is not None and event.type not in self.events:
            return None
        if self.environments is not None and environment not in self.environments:
            return None
        if isinstance(event, RunCompleted):
            return self._select_run(event)
        if self.services is not None:
            service = getattr(event, "service", None)
            if service is None or not self._follows(service):
                return None
        if self.outcomes is not None and outcome(event) not in self.outcomes:
            return None
        return event

    def _select_run(self, event: RunCompleted) -> RunCompleted | None:
        if self.services is not None:
            followed = {n: o for n, o in event.services.items() if self._follows(n)}
            if not followed:
                return None
            if len(followed) < len(event.services):
                status = overall_status(followed)
                event = event.model_copy(update={"services": followed, "status": status})
        if self.outcomes is not None:
            seen = {event.status, *(o.status for o in event.services.values())}
            if not seen & self.outcomes:
                return None
        return event

    def _follows(self, service: str) -> bool:
        return _matches(service, self.services or ())


def _matches(service: str, patterns: Sequence[str]) -> bool:
    return any(fnmatchcase(service, pattern) for pattern in patterns)


def sent_key(event: Envelope, channel: str, keys: Keyspace = DEFAULT_KEYSPACE) -> str:
    """The marker of a delivery: per run, channel and outcome for a run summary (whichever
    event carries it), per event and channel otherwise."""
    if isinstance(event, RunCompleted):
        return keys.run_notified(event.run_id, channel, event.status)
    return keys.event_sent(event.event_id, channel)

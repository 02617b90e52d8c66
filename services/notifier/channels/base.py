"""The contract every notification channel keeps, and what configured channels share."""

from __future__ import annotations

from typing import Protocol

from services.common.events import Envelope
from services.notifier.routing import Route


class Channel(Protocol):
    """Somewhere people are told what happened.

    ``select`` applies the channel's routing: the event as the channel shows it (a run summary
    narrowed to the services it follows), or None; ``environment`` is the one the event is in
    (None: none known), which ``send`` names in the message. ``send`` delivers it once; it raises
    TransientError when a later attempt may succeed (timeouts, connection errors, 5xx, 429)
    and PermanentError when none can (4xx, a refused login). Messages start with the channel's
    name and never hold a secret.
    """

    name: str

    def select(self, event: Envelope, environment: str | None = None) -> Envelope | None: ...

    def send(self, event: Envelope, environment: str | None = None) -> None: ...


class RoutedChannel:
    """A channel whose routing comes from its settings."""

    def __init__(self, name: str, route: Route) -> None:
        self.name = name
        self.route = route

    def select(self, event: Envelope, environment: str | None = None) -> Envelope | None:
        return self.route.select(event, environment)

    def wants(self, event: Envelope) -> bool:
        return self.select(event) is not None

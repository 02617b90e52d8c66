"""Notification channels. A delivery failure is a TransientError so the event is retried."""

from __future__ import annotations

from typing import Any, Protocol

import httpx

from services.common.errors import TransientError
from services.common.events import Envelope
from services.common.logging import get_logger
from services.common.settings import LogChannel as LogChannelSettings
from services.common.settings import Settings, WebhookChannel
from services.notifier.messages import body, summary


class Channel(Protocol):
    name: str

    def wants(self, event: Envelope) -> bool: ...

    def send(self, event: Envelope) -> None: ...


class LogChannel:
    name = "log"

    def wants(self, event: Envelope) -> bool:
        return True

    def send(self, event: Envelope) -> None:
        get_logger().info("notification", text=summary(event), event_type=event.type)


class HttpWebhookChannel:
    def __init__(self, settings: WebhookChannel, index: int) -> None:
        self._settings = settings
        self.name = f"webhook-{index}"

    def wants(self, event: Envelope) -> bool:
        return event.type in self._settings.events

    def send(self, event: Envelope) -> None:
        payload: dict[str, Any] = body(event)
        try:
            response = httpx.post(
                self._settings.url,
                json=payload,
                timeout=self._settings.timeout_seconds,
                headers={
                    "X-Shipline-Event": event.type,
                    "X-Shipline-Delivery": str(event.event_id),
                },
            )
        except httpx.HTTPError as exc:
            raise TransientError(f"{self.name}: {type(exc).__name__}") from None
        if response.status_code >= 300:
            raise TransientError(f"{self.name}: answered HTTP {response.status_code}")


def channels_from(settings: Settings) -> list[Channel]:
    channels: list[Channel] = []
    for index, config in enumerate(settings.notifications):
        if isinstance(config, LogChannelSettings):
            channels.append(LogChannel())
        else:
            channels.append(HttpWebhookChannel(config, index))
    return channels

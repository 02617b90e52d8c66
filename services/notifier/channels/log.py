"""The log channel: one structured log line per notification."""

from __future__ import annotations

from services.common.events import Envelope
from services.common.logging import get_logger
from services.common.settings import LogChannelSettings
from services.notifier.channels.base import RoutedChannel
from services.notifier.messages import summary
from services.notifier.routing import Route


class LogChannel(RoutedChannel):
    def __init__(self, settings: LogChannelSettings | None = None, index: int = 0) -> None:
        if settings is None:
            super().__init__("log", Route())
        else:
            super().__init__(settings.channel_name(index), Route.of(settings))

    def send(self, event: Envelope, environment: str | None = None) -> None:
        text = summary(event, environment)
        get_logger().info("notification", channel=self.name, text=text, event_type=event.type)

"""Notification channels, one module per kind, built from the server settings."""

from __future__ import annotations

from services.common.settings import (
    EmailChannelSettings,
    GitHubStatusChannelSettings,
    LogChannelSettings,
    Settings,
    SlackChannelSettings,
    WebhookChannelSettings,
)
from services.notifier.channels.base import Channel, RoutedChannel
from services.notifier.channels.email import EmailChannel
from services.notifier.channels.github_status import GitHubStatusChannel
from services.notifier.channels.log import LogChannel
from services.notifier.channels.slack import SlackChannel
from services.notifier.channels.webhook import WebhookChannel

__all__ = [
    "Channel",
    "EmailChannel",
    "GitHubStatusChannel",
    "WebhookChannel",
    "LogChannel",
    "RoutedChannel",
    "SlackChannel",
    "channels_from",
]


def channels_from(settings: Settings) -> list[Channel]:
    """One channel per entry of ``notifications``, in order, named ``name`` or <type>-<index>."""
    channels: list[Channel] = []
    for index, config in enumerate(settings.notifications):
        match config:
            case LogChannelSettings():
                channels.append(LogChannel(config, index))
            case WebhookChannelSettings():
                channels.append(WebhookChannel(config, index))
            case SlackChannelSettings():
                channels.append(SlackChannel(config, index))
            case GitHubStatusChannelSettings():
                channels.append(GitHubStatusChannel(config, index))
            case EmailChannelSettings():
                channels.append(EmailChannel(config, index))
    return channels

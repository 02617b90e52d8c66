"""Notification channels, one module per kind, built from the server settings."""

from __future__ import annotations

from services.common.settings import EmailChannel as EmailSettings
from services.common.settings import GitHubStatusChannel as GitHubStatusSettings
from services.common.settings import LogChannel as LogSettings
from services.common.settings import Settings
from services.common.settings import SlackChannel as SlackSettings
from services.common.settings import WebhookChannel as WebhookSettings
from services.notifier.channels.base import Channel, RoutedChannel
from services.notifier.channels.email import EmailChannel
from services.notifier.channels.github_status import GitHubStatusChannel
from services.notifier.channels.log import LogChannel
from services.notifier.channels.slack import SlackChannel
from services.notifier.channels.webhook import HttpWebhookChannel

__all__ = [
    "Channel",
    "EmailChannel",
    "GitHubStatusChannel",
    "HttpWebhookChannel",
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
            case LogSettings():
                channels.append(LogChannel(config, index))
            case WebhookSettings():
                channels.append(HttpWebhookChannel(config, index))
            case SlackSettings():
                channels.append(SlackChannel(config, index))
            case GitHubStatusSettings():
                channels.append(GitHubStatusChannel(config, index))
            case EmailSettings():
                channels.append(EmailChannel(config, index))
    return channels

"""The generic webhook: the JSON of :func:`services.notifier.messages.body`, optionally signed.

With a ``secret`` the exact bytes sent are signed like GitHub signs its webhooks, so a
receiver verifies them before parsing::

    X-Shipline-Signature-256: sha256=<hex HMAC-SHA256(secret, raw body)>
    X-Shipline-Event: RunCompleted
    X-Shipline-Delivery: <event id: the same on every retry of this notification>
"""

from __future__ import annotations

import hashlib
import hmac
import json

from services.common.events import Envelope
from services.common.settings import WebhookChannelSettings
from services.notifier.channels._http import post
from services.notifier.channels.base import RoutedChannel
from services.notifier.messages import body
from services.notifier.routing import Route

SIGNATURE_HEADER = "X-Shipline-Signature-256"


def sign(secret: bytes, raw_body: bytes) -> str:
    """The signature header's value for ``raw_body``."""
    return "sha256=" + hmac.new(secret, raw_body, hashlib.sha256).hexdigest()


class WebhookChannel(RoutedChannel):
    def __init__(self, settings: WebhookChannelSettings, index: int = 0) -> None:
        super().__init__(settings.channel_name(index), Route.of(settings))
        self._settings = settings

    def send(self, event: Envelope, environment: str | None = None) -> None:
        shown = body(event, environment)
        raw = json.dumps(shown, ensure_ascii=False, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Shipline-Event": event.type,
            "X-Shipline-Delivery": str(event.event_id),
        }
        secret = self._settings.secret
        if secret is not None:
            headers[SIGNATURE_HEADER] = sign(secret.get_secret_value().encode(), raw)
        post(
            self.name,
            self._settings.url,
            content=raw,
            headers=headers,
            timeout=self._settings.timeout_seconds,
            secrets=[self._settings.url, *([secret.get_secret_value()] if secret else [])],
        )

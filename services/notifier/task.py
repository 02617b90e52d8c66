"""Notifier stage: commits, blocks, failures and run summaries → every configured channel.

Each channel's delivery is remembered per event, so a retry after one channel failed
never repeats the ones that already succeeded.
"""

from __future__ import annotations

from collections.abc import Sequence

from services.common.events import (
    Envelope,
    ManifestCommitted,
    RunCompleted,
    ScanFailed,
    StageFailed,
)
from services.common.runtime import Runtime
from services.common.stage import Handler, StageDefinition
from services.notifier.channels import channels_from

SENT_TTL = 7 * 24 * 3600


def make_handler(runtime: Runtime) -> Handler:
    channels = channels_from(runtime.settings)
    redis = runtime.redis

    def handle(event: Envelope) -> Sequence[Envelope]:
        for channel in channels:
            if not channel.wants(event):
                continue
            sent_key = f"shipline:sent:{event.event_id}:{channel.name}"
            if redis.exists(sent_key):
                continue
            channel.send(event)
            redis.set(sent_key, 1, ex=SENT_TTL)
        if isinstance(event, RunCompleted):
            runtime.runs.mark_notified(event.run_id)
        return ()

    return handle


STAGE = StageDefinition(
    name="notifier",
    consumes=(ManifestCommitted, ScanFailed, StageFailed, RunCompleted),
    factory=make_handler,
    tracks_service=False,
    reports_failures=False,
)

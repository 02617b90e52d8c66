"""Publishing an event by hand (API or CLI): the redeploy-without-rebuild path."""

from __future__ import annotations

from services.common.eventlog import logged_marker
from services.common.events import Envelope
from services.common.runtime import Runtime


def mentioned_repositories(event: Envelope) -> set[str]:
    """The repositories an event names (its source's, or its own `repository`)."""
    names = {
        getattr(event, "repository", None),
        getattr(getattr(event, "source", None), "repository", None),
    }
    return {name for name in names if name}


def publish_by_hand(runtime: Runtime, event: Envelope, requested_by: str = "cli") -> bool:
    """Queue the event on its stage, creating its run when new; False when already published."""
    if runtime.redis.exists(logged_marker(event)):
        return False
    if runtime.runs.get(event.run_id) is None:
        runtime.runs.create(event.run_id, trigger="manual", requested_by=requested_by)
        service = getattr(event, "service", None)
        if service:
            runtime.runs.plan(event.run_id, [service])
    runtime.bus.publish(event)
    return True

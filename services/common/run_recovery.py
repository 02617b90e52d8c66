"""A run the store no longer knows, rebuilt from one of its events.

Redis may lose its data (a restart without persistence, a failover to an empty replica, a
FLUSHALL) while a run is in flight: its stages carry on (each dedupes), but its hash went
with the data. The first stage event that arrives for it creates a minimal record from what
the event tells: the repository, commit and ref of its source, `trigger` "recovered" (no
event carries the original trigger) and `recovered_at`. How many services the run fanned out
to is lost too, so a recovered run has no `expected`: it completes when every service it
has seen since has ended (run_projection.py). Whether the hash is gone is checked in the
publish's one Redis script, with the event's other writes (publish_script.py): recreating
a run costs no round trip of its own.
"""

from __future__ import annotations

from services.common.events import (
    BuildSuperseded,
    ChangeDetected,
    DeploymentFailed,
    DeploymentSkipped,
    DeploymentVerified,
    Envelope,
    ImagePushed,
    ManifestCommitted,
    ScanFailed,
    ScanPassed,
    Source,
    StageFailed,
    Unpinned,
)

RECOVERED_TRIGGER = "recovered"

# The events a stage publishes about a run already under way; a trigger creates its run
# before publishing, and a RunCompleted for a run the store does not know creates nothing.
STAGE_EVENTS = (
    ChangeDetected,
    ImagePushed,
    BuildSuperseded,
    ScanPassed,
    ScanFailed,
    ManifestCommitted,
    DeploymentVerified,
    DeploymentFailed,
    DeploymentSkipped,
    StageFailed,
    Unpinned,
)


def recovered_record(event: Envelope, now: float) -> dict[str, str | float] | None:
    """The hash of the run `event` belongs to, as far as the event tells (None: an event
    that never recreates a run)."""
    if not isinstance(event, STAGE_EVENTS):
        return None
    record: dict[str, str | float] = {
        "run_id": event.run_id,
        "status": "running",
        "trigger": RECOVERED_TRIGGER,
        "created_at": event.occurred_at.timestamp(),
        "recovered_at": now,
    }
    source: Source | None = getattr(event, "source", None)
    if source is not None:
        record.update(repository=source.repository, commit=source.commit, ref=source.ref)
    elif isinstance(event, Unpinned):
        record["repository"] = event.repository
    return record


def repository_of(event: Envelope) -> str | None:
    """The repository of the run a stage event belongs to, when the event says."""
    source: Source | None = getattr(event, "source", None)
    if source is not None:
        return source.repository
    repository = getattr(event, "repository", None)
    return repository if isinstance(repository, str) and repository else None

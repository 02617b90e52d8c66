"""The builder's decisions, pure: labels, cache sources, "already built?", the events it emits."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from services.common.events import BuildSuperseded, ChangeDetected, ImagePushed
from services.common.git import redact

REVISION = "org.opencontainers.image.revision"
LATEST = "latest"


def oci_labels(change: ChangeDetected, source_url: str) -> dict[str, str]:
    return {
        "org.opencontainers.image.source": redact(source_url),
        REVISION: change.source.commit,
        "org.opencontainers.image.created": datetime.now(UTC).isoformat(timespec="seconds"),
        "org.opencontainers.image.version": change.tags[0],
        "org.opencontainers.image.title": change.service,
    }


def already_built(labels: Mapping[str, str] | None, change: ChangeDetected) -> bool:
    """The registry's image under the change's first tag was built from the change's commit."""
    return labels is not None and labels.get(REVISION) == change.source.commit


def cache_sources(change: ChangeDetected, last_tag: str | None) -> list[str]:
    """Earlier images of the service, best first: the branch's last push, then `latest`."""
    candidates = [last_tag, LATEST]
    tags = [t for t in dict.fromkeys(candidates) if t and t != change.tags[0]]
    return [f"{change.image_repository}:{tag}" for tag in tags]


def image_pushed(
    change: ChangeDetected, digest: str, seconds: float, cached: bool = False
) -> ImagePushed:
    return ImagePushed(
        event_id=change.follow_up_id("ImagePushed"),
        run_id=change.run_id,
        service=change.service,
        source=change.source,
        image_repository=change.image_repository,
        tags=change.tags,
        digest=digest,
        build_seconds=round(seconds, 3),
        cached=cached,
    )


def superseded(change: ChangeDetected, newer_commit: str, newer_run_id: str) -> BuildSuperseded:
    return BuildSuperseded(
        event_id=change.follow_up_id("BuildSuperseded"),
        run_id=change.run_id,
        service=change.service,
        source=change.source,
        newer_commit=newer_commit,
        newer_run_id=newer_run_id,
    )


def failure_message(error: str, log_path: str, tail: str) -> str:
    """An error, where the whole build log is, and its last lines (the StageFailed message)."""
    head = error.splitlines()[0] if error else "build failed"
    message = f"{head}\nbuild log: {log_path}"
    return f"{message}\n--- last lines ---\n{tail}" if tail else message

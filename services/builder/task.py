"""Builder stage: ChangeDetected → the image built at that commit, pushed → ImagePushed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from services.builder.docker_engine import DockerEngine
from services.common.errors import PermanentError
from services.common.events import ChangeDetected, Envelope, ImagePushed
from services.common.git import Mirror, redact
from services.common.logging import get_logger
from services.common.registry_auth import registry_login
from services.common.runtime import Runtime
from services.common.stage import Handler, StageDefinition


def oci_labels(change: ChangeDetected, source_url: str) -> dict[str, str]:
    return {
        "org.opencontainers.image.source": redact(source_url),
        "org.opencontainers.image.revision": change.source.commit,
        "org.opencontainers.image.created": datetime.now(UTC).isoformat(timespec="seconds"),
        "org.opencontainers.image.version": change.tags[0],
        "org.opencontainers.image.title": change.service,
    }


def make_handler(runtime: Runtime) -> Handler:
    settings = runtime.settings
    engine = DockerEngine()

    def handle(change: Envelope) -> Sequence[Envelope]:
        assert isinstance(change, ChangeDetected)
        repo = settings.repository(change.source.repository)
        if repo is None:
            raise PermanentError(f"repository {change.source.repository} is not configured")
        mirror = Mirror(repo.url, settings.workdir / "mirrors")
        if not mirror.has_commit(change.source.commit):
            mirror.fetch()
        context = mirror.archive(change.source.commit, change.context)
        result = engine.build_and_push(
            context,
            change.dockerfile,
            change.image_repository,
            change.tags,
            oci_labels(change, repo.url),
            registry_login(settings, change.image_repository),
        )
        get_logger().info("image pushed", digest=result.digest, seconds=result.seconds)
        return (
            ImagePushed(
                event_id=change.follow_up_id("ImagePushed"),
                run_id=change.run_id,
                service=change.service,
                source=change.source,
                image_repository=change.image_repository,
                tags=change.tags,
                digest=result.digest,
                build_seconds=result.seconds,
            ),
        )

    return handle


STAGE = StageDefinition(name="builder", consumes=(ChangeDetected,), factory=make_handler)

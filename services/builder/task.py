"""Builder stage: ChangeDetected → the image built at that commit, pushed → ImagePushed
(or BuildSuperseded when a newer push of the service and branch took over)."""

from __future__ import annotations

from collections.abc import Sequence

from services.builder.build import Builder
from services.builder.coordination import Coordinator
from services.builder.docker_engine import DockerEngine
from services.common.events import ChangeDetected, Envelope
from services.common.runtime import Runtime
from services.common.stage import Handler, StageDefinition


def make_handler(runtime: Runtime) -> Handler:
    settings = runtime.settings
    engine = DockerEngine(
        timeout=settings.builder.timeout_seconds + 60, backend=settings.builder.backend
    )
    builder = Builder(settings, engine, Coordinator(runtime.redis, keys=runtime.keyspace))

    def handle(change: Envelope) -> Sequence[Envelope]:
        assert isinstance(change, ChangeDetected)
        return builder.build(change)

    return handle


STAGE = StageDefinition(name="builder", consumes=(ChangeDetected,), factory=make_handler)

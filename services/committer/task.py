"""Committer stage: ScanPassed → the new image in the service's manifest, committed, pushed."""

from __future__ import annotations

from collections.abc import Sequence

from services.committer.writeback import GitopsWriter
from services.common.events import Envelope, ScanPassed
from services.common.runtime import Runtime
from services.common.stage import Handler, StageDefinition


def make_handler(runtime: Runtime) -> Handler:
    writer = GitopsWriter(runtime.settings, runtime.redis)

    def handle(scan: Envelope) -> Sequence[Envelope]:
        assert isinstance(scan, ScanPassed)
        return (writer.deploy(scan),)

    return handle


STAGE = StageDefinition(name="committer", consumes=(ScanPassed,), factory=make_handler)

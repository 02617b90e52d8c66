"""Scanner stage: ImagePushed → Trivy on the image by digest → ScanPassed | ScanFailed."""

from __future__ import annotations

import json
from collections.abc import Sequence

from services.common.events import Envelope, ImagePushed
from services.common.logging import get_logger
from services.common.registry_auth import registry_login
from services.common.runtime import Runtime
from services.common.stage import Handler, StageDefinition
from services.scanner.policy import Policy, decide
from services.scanner.report import findings_from_report
from services.scanner.trivy import Trivy, locate_trivy


def make_handler(runtime: Runtime) -> Handler:
    settings = runtime.settings
    trivy = Trivy(
        locate_trivy(settings.scanner.trivy_path),
        list(settings.scanner.scanners),
        settings.scanner.timeout_seconds,
        settings.scanner.cache_dir or settings.workdir / "trivy-cache",
        settings.scanner.offline,
    )
    policy = Policy(block_severities=frozenset(settings.scanner.block_severities))
    reports = settings.workdir / "reports"

    def handle(image: Envelope) -> Sequence[Envelope]:
        assert isinstance(image, ImagePushed)
        login = registry_login(settings, image.image_repository)
        report = trivy.scan(
            image.image_by_digest,
            login.username if login else None,
            login.password if login else None,
        )
        location = reports / image.run_id / f"{image.service}.trivy.json"
        location.parent.mkdir(parents=True, exist_ok=True)
        location.write_text(json.dumps(report))
        outcome = decide(image, findings_from_report(report), policy, str(location))
        get_logger().info("scanned", outcome=outcome.type, counts=outcome.counts)
        return (outcome,)

    return handle


STAGE = StageDefinition(name="scanner", consumes=(ImagePushed,), factory=make_handler)

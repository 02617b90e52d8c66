"""Each scanned image's SBOM: made from the scan, kept with the run, attached in the registry.

Nothing here blocks a deploy: a conversion that fails, or a registry that refuses or cannot
be reached, is logged and written into the scan's SbomRecord (`error`), and the scan goes on
to its decision. The SBOM kept with the run is served even when attaching it failed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from services.builder.registry import RegistryClient
from services.common.errors import PermanentError, TransientError
from services.common.events import ImagePushed, SbomRecord
from services.common.logging import get_logger
from services.common.registry_auth import registry_login, split_repository
from services.common.scan_reports import ScanReports
from services.common.settings import Settings
from services.scanner.report import without_secret_context
from services.scanner.sbom import component_count, stable_sbom
from services.scanner.sbom_registry import SbomRegistry
from services.scanner.trivy import Trivy

FAILURES = (TransientError, PermanentError, ValueError)


class SbomKeeper:
    def __init__(
        self,
        trivy: Trivy,
        reports: ScanReports,
        registry_for: Callable[[str], SbomRegistry],
    ) -> None:
        self._trivy = trivy
        self._reports = reports
        self._registry_for = registry_for  # image repository → a client for its registry

    @classmethod
    def from_settings(cls, settings: Settings, trivy: Trivy, reports: ScanReports) -> SbomKeeper:
        def registry_for(image_repository: str) -> SbomRegistry:
            host, _ = split_repository(image_repository)
            login = registry_login(settings, image_repository)
            insecure = settings.builder.insecure_registries
            return SbomRegistry(RegistryClient(host, login, insecure_hosts=insecure))

        return cls(trivy, reports, registry_for)

    def keep(self, image: ImagePushed, report: dict[str, Any]) -> SbomRecord:
        """Make, keep and attach the SBOM of the image `report` is the scan of."""
        log = get_logger().bind(image=image.image_by_digest)
        try:
            cyclonedx = self._trivy.cyclonedx(without_secret_context(report))
            sbom = stable_sbom(cyclonedx, image.image_by_digest)
        except FAILURES as exc:
            log.warning("sbom not made", reason=str(exc))
            return SbomRecord(error=f"not made: {exc}")
        self._reports.save_sbom(image.run_id, image.service, sbom)
        made = SbomRecord(
            digest="sha256:" + hashlib.sha256(sbom).hexdigest(), components=component_count(sbom)
        )
        try:
            with self._registry_for(image.image_repository) as registry:
                attached = registry.attach(image.image_repository, image.digest, sbom)
        except FAILURES as exc:
            log.warning("sbom not attached", reason=str(exc))
            return made.model_copy(update={"error": f"not attached to the image: {exc}"})
        log.info("sbom attached", artifact=attached.manifest_digest, listed_by=attached.listed_by)
        return made.model_copy(
            update={
                "artifact": attached.manifest_digest,
                "listed_by": attached.listed_by,
                "tag": attached.tag,
            }
        )

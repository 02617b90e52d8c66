"""The committer's door: an image is written into a manifest only when it is an image of the
service's own repository (shipline.yaml at the source commit) and the scanner recorded its
verdict for that digest (services/common/scan_verdicts.py). The decision itself is pure
(decide.refusal); this adapter fetches the facts."""

from __future__ import annotations

from collections.abc import Mapping

from services.committer.decide import refusal
from services.common.errors import PermanentError
from services.common.events import Source
from services.common.mirrors import source_project
from services.common.project import PROJECT_FILE
from services.common.scan_verdicts import ScanVerdicts
from services.common.settings import Settings

Image = tuple[str, str]  # (image repository, digest)


class Admission:
    def __init__(self, settings: Settings, verdicts: ScanVerdicts) -> None:
        self._settings = settings
        self._verdicts = verdicts

    def check(self, source: Source, images: Mapping[str, Image]) -> None:
        """Raise PermanentError naming every image (by service) that may not be deployed."""
        project = source_project(self._settings, source)
        refused = []
        for service, (repository, digest) in sorted(images.items()):
            if service not in project.services:
                refused.append(f"{service} is not in {PROJECT_FILE} at {source.short_sha}")
                continue
            verdict = self._verdicts.get(repository, digest)
            why = refusal(service, repository, digest, project.image_repository(service), verdict)
            if why:
                refused.append(why)
        if refused:
            raise PermanentError("not deployed: " + "; ".join(refused))

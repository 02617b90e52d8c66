"""The committer's door: an image is written into a manifest only when it is an image of the
service's own repository (shipline.yaml at the source commit) and the scanner recorded its
verdict for that digest (services/common/scan_verdicts.py). A promotion's image also passes
the target environment's scan policy (rescan.py), when it has its own. The decision itself
is pure (decide.refusal); this adapter fetches the facts."""

from __future__ import annotations

from collections.abc import Mapping

from services.committer.decide import refusal
from services.committer.rescan import Promoted, Rescan
from services.common.errors import PermanentError
from services.common.events import ReleaseReady, ScanFailed, Source
from services.common.mirrors import source_project
from services.common.project import PROJECT_FILE, Project
from services.common.scan_verdicts import ScanVerdicts
from services.common.settings import Settings

Image = tuple[str, str]  # (image repository, digest)


class Blocked(PermanentError):
    """The target environment's scan policy blocks a promoted image: `outcome` says why."""

    def __init__(self, outcome: ScanFailed) -> None:
        super().__init__(f"not deployed: {outcome.service} blocked by {outcome.explain()}")
        self.outcome = outcome


class Admission:
    def __init__(
        self, settings: Settings, verdicts: ScanVerdicts, rescan: Rescan | None = None
    ) -> None:
        self._settings = settings
        self._verdicts = verdicts
        self._rescan = rescan  # None: the scanner's verdict carries over to every environment

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

    def check_promotion(self, image: Promoted) -> None:
        """As `check`, then under the target environment's scan policy: Blocked when it
        blocks the image."""
        self.check(image.source, {image.service: (image.image_repository, image.digest)})
        if self._rescan is None:
            return
        blocked = self._rescan.blocked(image, source_project(self._settings, image.source))
        if blocked is not None:
            raise Blocked(blocked)

    def release_blocked(
        self, ready: ReleaseReady, project: Project, environment: str
    ) -> dict[str, ScanFailed]:
        """Each image of a release into `environment` its own scan policy blocks."""
        if self._rescan is None:
            return {}
        return self._rescan.release_blocked(ready, project, environment)

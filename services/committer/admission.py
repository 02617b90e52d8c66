"""The committer's door: an image is written into a manifest only when it is an image of the
service's own repository (shipline.yaml at the source commit) and the scanner recorded its
verdict for that digest (services/common/scan_verdicts.py). A promotion's image also passes
the target environment's scan policy (rescan.py), when it has its own. The decision itself
is pure (decide.refusal); this adapter fetches the facts.

A promotion whose digest has no verdict in Redis (lost with its data) looks for the passed
verdict's evidence in git (scan_evidence.py): a commit of the source environment's gitops
branch naming that digest; found, it is recorded again as passed, `recovered_from` that
commit. Nothing else (an event, a registry tag, the source repository) stands for a verdict."""

from __future__ import annotations

from collections.abc import Mapping

from services.committer.decide import refusal
from services.committer.rescan import Promoted, Rescan
from services.committer.scan_evidence import ScanEvidence
from services.common.errors import PermanentError
from services.common.events import ReleaseReady, ScanFailed, Source
from services.common.logging import get_logger
from services.common.mirrors import source_project
from services.common.project import PROJECT_FILE, Project
from services.common.scan_verdicts import ScanVerdict, ScanVerdicts
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

    def check(
        self,
        source: Source,
        images: Mapping[str, Image],
        evidence: ScanEvidence | None = None,
        run_id: str = "",
    ) -> dict[str, ScanVerdict]:
        """Raise PermanentError naming every image (by service) that may not be deployed;
        else each image's verdict. `evidence`: where a verdict Redis lost may be found again
        (in git), recorded for the asking `run_id`."""
        project = source_project(self._settings, source)
        refused, admitted = [], {}
        for service, (repository, digest) in sorted(images.items()):
            if service not in project.services:
                refused.append(f"{service} is not in {PROJECT_FILE} at {source.short_sha}")
                continue
            verdict = self._verdicts.get(repository, digest)
            if verdict is None and evidence is not None:
                verdict = self._recovered(evidence, service, repository, digest, run_id)
            why = refusal(service, repository, digest, project.image_repository(service), verdict)
            if why:
                refused.append(why)
            elif verdict is not None:
                admitted[service] = verdict
        if refused:
            raise PermanentError("not deployed: " + "; ".join(refused))
        return admitted

    def _recovered(
        self, evidence: ScanEvidence, service: str, repository: str, digest: str, run_id: str
    ) -> ScanVerdict | None:
        commit = evidence.find(service, repository, digest)
        if commit is None:
            return None
        verdict = ScanVerdict(
            image_repository=repository,
            digest=digest,
            service=service,
            outcome="passed",
            run_id=run_id,
            policy="recovered from git",
            recovered_from=commit,
        )
        self._verdicts.record(verdict)
        get_logger().info("scan verdict recovered from git", service=service, commit=commit)
        return verdict

    def check_promotion(
        self, image: Promoted, evidence: ScanEvidence | None = None
    ) -> dict[str, ScanVerdict]:
        """As `check`, then under the target environment's scan policy: Blocked when it
        blocks the image."""
        images = {image.service: (image.image_repository, image.digest)}
        admitted = self.check(image.source, images, evidence, image.run_id)
        if self._rescan is None:
            return admitted
        blocked = self._rescan.blocked(image, source_project(self._settings, image.source))
        if blocked is not None:
            raise Blocked(blocked)
        return admitted

    def release_blocked(
        self, ready: ReleaseReady, project: Project, environment: str
    ) -> dict[str, ScanFailed]:
        """Each image of a release into `environment` its own scan policy blocks."""
        if self._rescan is None:
            return {}
        return self._rescan.release_blocked(ready, project, environment)

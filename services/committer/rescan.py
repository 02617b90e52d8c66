"""A promoted image judged again under the target environment's scan policy, when that
policy (the service's with the environment's `scan:` on top) differs from the service's own,
which the scanner judged it by; a release's images likewise, each under the policy of the
`releases: true` environment it goes to.

The decision is the scanner's own (services/scanner/policy.py decide) on Trivy's JSON
report: the report the scanner kept for that digest when there is one, Trivy run on the
image by digest only when there is none. The outcome is kept per environment
(environment_scan_verdicts.py), never over the scanner's verdict: the image keeps running
where it was first deployed. A promotion under the same policy again reads it back.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from services.common.environment_scan_verdicts import EnvironmentVerdict, EnvironmentVerdicts
from services.common.events import ImagePushed, ReleaseReady, ScanFailed, ScanPassed, Source
from services.common.logging import get_logger
from services.common.project import Project
from services.common.registry_auth import registry_login
from services.common.scan_reports import ScanReports
from services.common.scan_verdicts import ScanVerdicts
from services.common.settings import Settings
from services.scanner.policy import Policy, environment_policy, fingerprint, policy_for
from services.scanner.task import keep_and_decide
from services.scanner.trivy import Trivy

# a redelivered promotion judges the same image with the same event ids
_JUDGED = uuid.UUID("6c2b0f4e-8f61-4d3a-b7c9-2a1e5d9f0b34")


@dataclass(frozen=True)
class Promoted:
    """The image a promotion moves, as the admission found it."""

    run_id: str  # the promotion's run
    environment: str  # the target
    service: str
    source: Source
    image_repository: str
    tag: str | None
    digest: str


@dataclass(frozen=True)
class Rescan:
    settings: Settings
    verdicts: ScanVerdicts  # the scanner's, by digest
    judged: EnvironmentVerdicts
    reports: ScanReports
    trivy: Callable[[], Trivy]  # made when first needed: most promotions never run it

    @classmethod
    def connect(
        cls, settings: Settings, verdicts: ScanVerdicts, judged: EnvironmentVerdicts
    ) -> Rescan:
        def trivy() -> Trivy:
            return Trivy.from_settings(
                settings.scanner, settings.workdir, settings.builder.insecure_registries
            )

        return cls(settings, verdicts, judged, ScanReports(settings.workdir / "reports"), trivy)

    def blocked(self, image: Promoted, project: Project) -> ScanFailed | None:
        """What the target's policy blocks of the image, or None when it passes or when the
        policy is the service's own (the scanner's verdict carries over)."""
        scanner = self.settings.scanner
        policy = environment_policy(scanner, project, image.service, image.environment)
        printed = fingerprint(policy)
        if printed == fingerprint(policy_for(scanner, project, image.service)):
            return None
        kept = self.judged.get(image.environment, image.image_repository, image.digest)
        if kept is None or kept.fingerprint != printed:
            kept = EnvironmentVerdict(
                environment=image.environment,
                fingerprint=printed,
                outcome=self._judge(image, policy),
            )
            self.judged.record(kept)
        outcome = kept.outcome
        return _addressed(outcome, image) if isinstance(outcome, ScanFailed) else None

    def release_blocked(
        self, ready: ReleaseReady, project: Project, environment: str
    ) -> dict[str, ScanFailed]:
        """Each image of `ready` that `environment`'s scan policy blocks, by service (none
        where a service's policy there is its own)."""
        blocked = {}
        for service, item in sorted(ready.images.items()):
            image = Promoted(
                ready.run_id,
                environment,
                service,
                ready.source,
                item.image_repository,
                item.tag,
                item.digest,
            )
            outcome = self.blocked(image, project)
            if outcome is not None:
                blocked[service] = outcome
        return blocked

    def _judge(self, image: Promoted, policy: Policy) -> ScanPassed | ScanFailed:
        pushed = ImagePushed(
            event_id=_event_id(image),
            run_id=image.run_id,
            service=image.service,
            source=image.source,
            image_repository=image.image_repository,
            tags=(image.tag,) if image.tag else (),
            digest=image.digest,
        )
        report = self._kept_report(image) or self._scan(pushed)
        outcome = keep_and_decide(pushed, report, policy, self.reports)
        get_logger().info(
            "judged under the environment's policy",
            environment=image.environment,
            outcome=outcome.type,
            counts=outcome.counts,
        )
        named = f"environment {image.environment}: {outcome.policy}"
        return outcome.model_copy(update={"policy": named})

    def _kept_report(self, image: Promoted) -> dict[str, Any] | None:
        """The Trivy report the scanner kept when it judged this digest, if it is at hand."""
        verdict = self.verdicts.get(image.image_repository, image.digest)
        if verdict is None or verdict.outcome == "skipped":
            return None
        try:
            path = self.reports.find(verdict.run_id, image.service, "json")
            report = json.loads(path.read_bytes()) if path else None
        except (ValueError, OSError):
            return None
        return report if isinstance(report, dict) else None

    def _scan(self, image: ImagePushed) -> dict[str, Any]:
        login = registry_login(self.settings, image.image_repository)
        username, password = (login.username, login.password) if login else (None, None)
        return self.trivy().scan(image.image_by_digest, username, password)


def _event_id(image: Promoted) -> uuid.UUID:
    return uuid.uuid5(_JUDGED, f"{image.run_id}:{image.environment}:{image.service}:{image.digest}")


def _addressed(outcome: ScanFailed, image: Promoted) -> ScanFailed:
    """A kept outcome as the outcome of the run asking now (another run may have judged it)."""
    if outcome.run_id == image.run_id:
        return outcome
    update = {"event_id": _event_id(image), "run_id": image.run_id, "source": image.source}
    return outcome.model_copy(update=update)

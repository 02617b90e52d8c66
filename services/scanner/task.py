"""Scanner stage: ImagePushed → Trivy on the image by digest → ScanPassed | ScanFailed.

The policy is the server's, overridden by the shipline.yaml of the image's commit. Both
reports are kept per image, and the verdict recorded by digest (the committer deploys only
what the scanner recorded), before the decision is published. An ImagePushed that asks to
skip the scan (a manual emergency bypass) passes unscanned, marked as skipped. The image's
CycloneDX SBOM is kept with the reports and attached to the image in its registry
(sbom_keeper.py), and the git host told (code scanning or a commit status), once the
decision is published: the committer waits for neither, and their failures never block it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from services.common.after_publish import after_publish
from services.common.errors import PermanentError
from services.common.events import Envelope, ImagePushed, ScanFailed, ScanPassed
from services.common.logging import get_logger
from services.common.mirrors import source_project
from services.common.registry_auth import registry_login
from services.common.runtime import Runtime
from services.common.sbom_record import SbomRecords
from services.common.scan_host_reports import ScanHostReports
from services.common.scan_reports import ScanReports
from services.common.scan_verdicts import ScanVerdict
from services.common.stage import Handler, StageDefinition
from services.githost.code_scanning import HostScanReports
from services.scanner.code_scanning_follow_up import start_follow_up
from services.scanner.policy import Policy, bypass, decide, policy_for
from services.scanner.report import findings_from_report, without_secret_context
from services.scanner.sarif import to_sarif
from services.scanner.sbom_keeper import SbomKeeper
from services.scanner.trivy import Trivy

AUTOMATIC_TRIGGERS = ("push", "tag")


def make_handler(runtime: Runtime) -> Handler:
    settings = runtime.settings
    trivy = Trivy.from_settings(
        settings.scanner, settings.workdir, settings.builder.insecure_registries
    )
    reports = ScanReports(settings.workdir / "reports")
    sboms = SbomKeeper.from_settings(settings, trivy, reports)
    sbom_records = SbomRecords(runtime.redis, keys=runtime.keyspace)
    verdicts = runtime.scan_verdicts
    on_host = HostScanReports(
        settings.repositories, ScanHostReports(runtime.redis, keys=runtime.keyspace)
    )

    def handle(image: Envelope) -> Sequence[Envelope]:
        assert isinstance(image, ImagePushed)
        outcome = skip(runtime, image) if image.skip_scan is not None else scan(image)
        verdicts.record(ScanVerdict.of(outcome))  # before publishing: the committer checks it
        return (outcome,)

    def scan(image: ImagePushed) -> ScanPassed | ScanFailed:
        policy = policy_for(settings.scanner, source_project(settings, image.source), image.service)
        login = registry_login(settings, image.image_repository)
        username, password = (login.username, login.password) if login else (None, None)
        report = trivy.scan(image.image_by_digest, username, password)
        outcome = keep_and_decide(image, report, policy, reports)
        get_logger().info("scanned", outcome=outcome.type, counts=outcome.counts)

        def attachments() -> None:  # neither raises: a failure is recorded in what they keep
            on_host.report(outcome)  # the git host's code scanning or commit status
            sbom_records.put(image.run_id, image.service, sboms.keep(image, report))

        after_publish(attachments)  # the committer waits for neither
        return outcome

    return handle


def keep_and_decide(
    image: ImagePushed, report: dict[str, Any], policy: Policy, reports: ScanReports
) -> ScanPassed | ScanFailed:
    """Both reports kept first, so the decision can point at them."""
    findings = findings_from_report(report)
    today = datetime.now(UTC).date()
    sarif = to_sarif(findings, policy, today, image.image_by_digest)
    files = reports.save(image.run_id, image.service, without_secret_context(report), sarif)
    return decide(
        image,
        findings,
        policy,
        today,
        report_location=str(files.json),
        sarif_location=str(files.sarif),
    )


def skip(runtime: Runtime, image: ImagePushed) -> ScanPassed:
    """The emergency bypass, honoured for manual deployments only, never for a git push."""
    assert image.skip_scan is not None
    trigger = runtime.runs.trigger(image.run_id)
    if trigger in AUTOMATIC_TRIGGERS:
        raise PermanentError(
            f"skip_scan is honoured for manual deployments only; run {image.run_id} "
            f"was started by a {trigger}"
        )
    get_logger().warning("scan skipped", by=image.skip_scan.by, reason=image.skip_scan.reason)
    return bypass(image)


STAGE = StageDefinition(
    name="scanner", consumes=(ImagePushed,), factory=make_handler, background=start_follow_up
)

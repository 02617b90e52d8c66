from collections.abc import Sequence

import pytest

from services.common.events import Finding, ImagePushed, ScanFailed, ScanPassed, Source
from services.scanner.policy import Policy, decide
from services.scanner.report import findings_from_report

DIGEST = "sha256:" + "ab" * 32
REPORT_LOCATION = "/var/shipline/reports/run-1/user-service.trivy.json"
NO_FINDINGS = {"UNKNOWN": 0, "LOW": 0, "MEDIUM": 0, "HIGH": 0, "CRITICAL": 0}


def image_pushed() -> ImagePushed:
    return ImagePushed(
        run_id="run-1",
        service="user-service",
        source=Source(
            repository="acme/microbank",
            commit="6113728f27ae82c7b1a177c8d03f9e96e0adf246",
            ref="refs/heads/main",
        ),
        image_repository="127.0.0.1:5000/microbank/user-service",
        tags=("sha-6113728", "latest"),
        digest=DIGEST,
    )


def vulnerability(vuln_id: str, severity: str) -> dict:
    return {
        "VulnerabilityID": vuln_id,
        "PkgName": "busybox",
        "InstalledVersion": "1.36.1-r15",
        "FixedVersion": "1.36.1-r16",
        "Severity": severity,
        "Title": f"busybox: {vuln_id}",
    }


def aws_key_in_env_file() -> dict:
    return {
        "RuleID": "aws-access-key-id",
        "Category": "AWS",
        "Severity": "CRITICAL",
        "Title": "AWS Access Key ID",
        "StartLine": 3,
        "EndLine": 3,
        "Match": "AWS_ACCESS_KEY_ID=********************",
    }


def findings(vulns: Sequence[dict] = (), secrets: Sequence[dict] = ()) -> list[Finding]:
    report = {
        "SchemaVersion": 2,
        "Results": [
            {"Target": "image (alpine 3.19.1)", "Class": "os-pkgs", "Vulnerabilities": list(vulns)},
            {"Target": "/app/.env", "Class": "secret", "Secrets": list(secrets)},
        ],
    }
    return findings_from_report(report)


def scan(found: list[Finding], policy: Policy | None = None) -> ScanPassed | ScanFailed:
    return decide(image_pushed(), found, policy or Policy(), REPORT_LOCATION)


def test_a_baked_in_secret_blocks_the_image():
    result = scan(findings(vulns=[vulnerability("CVE-1", "LOW")], secrets=[aws_key_in_env_file()]))

    assert isinstance(result, ScanFailed)
    assert [f.id for f in result.findings] == ["aws-access-key-id"]
    assert result.findings[0].target == "/app/.env:3"


def test_a_secret_of_low_severity_still_blocks():
    low_secret = {**aws_key_in_env_file(), "Severity": "LOW"}

    assert isinstance(scan(findings(secrets=[low_secret])), ScanFailed)


def test_a_critical_vulnerability_blocks_and_only_the_blocking_findings_are_listed():
    found = findings(
        vulns=[
            vulnerability("CVE-2024-0001", "HIGH"),
            vulnerability("CVE-2024-0002", "CRITICAL"),
            vulnerability("CVE-2024-0003", "MEDIUM"),
        ]
    )

    result = scan(found)

    assert isinstance(result, ScanFailed)
    assert [f.id for f in result.findings] == ["CVE-2024-0002"]
    assert result.counts == {**NO_FINDINGS, "MEDIUM": 1, "HIGH": 1, "CRITICAL": 1}


def test_high_vulnerabilities_alone_pass_with_their_counts():
    found = findings(vulns=[vulnerability("CVE-1", "HIGH"), vulnerability("CVE-2", "HIGH")])

    result = scan(found)

    assert isinstance(result, ScanPassed)
    assert result.counts == {**NO_FINDINGS, "HIGH": 2}


def test_a_stricter_policy_blocks_high_vulnerabilities():
    policy = Policy(block_severities=frozenset({"HIGH", "CRITICAL"}))

    result = scan(findings(vulns=[vulnerability("CVE-1", "HIGH")]), policy)

    assert isinstance(result, ScanFailed)
    assert [f.id for f in result.findings] == ["CVE-1"]


def test_a_policy_that_lets_secrets_through_passes_an_image_with_a_secret():
    policy = Policy(secrets_block=False)

    assert isinstance(scan(findings(secrets=[aws_key_in_env_file()]), policy), ScanPassed)


def test_an_empty_report_passes_with_zero_counts():
    result = scan(findings())

    assert isinstance(result, ScanPassed)
    assert result.counts == NO_FINDINGS


def test_the_result_carries_the_image_the_policy_and_the_report_location():
    image = image_pushed()

    result = scan(findings())

    assert result.run_id == image.run_id
    assert result.service == image.service
    assert result.source == image.source
    assert result.image == "127.0.0.1:5000/microbank/user-service:sha-6113728"
    assert result.digest == DIGEST
    assert result.policy == "any secret blocks; vulnerabilities of CRITICAL block"
    assert result.report_location == REPORT_LOCATION


@pytest.mark.parametrize(
    ("secret_found", "kind"),
    [(False, "ScanPassed"), (True, "ScanFailed")],
)
def test_the_result_id_is_derived_from_the_image_pushed_event(secret_found, kind):
    image = image_pushed()
    found = findings(secrets=[aws_key_in_env_file()] if secret_found else [])

    first = decide(image, found, Policy(), REPORT_LOCATION)
    again = decide(image, found, Policy(), REPORT_LOCATION)

    assert first.type == kind
    assert first.event_id == again.event_id == image.follow_up_id(kind)
    assert decide(image_pushed(), found, Policy(), REPORT_LOCATION).event_id != first.event_id


def test_a_policy_that_blocks_nothing_says_so():
    assert Policy(block_severities=frozenset(), secrets_block=False).describe() == "nothing blocks"

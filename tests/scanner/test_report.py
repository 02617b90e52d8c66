import json
from pathlib import Path

import pytest

from services.common.errors import PermanentError
from services.common.events import Finding
from services.scanner.report import count_by_severity, findings_from_report, without_secret_context

FIXTURES = Path(__file__).parents[1] / "fixtures" / "trivy"
IMAGE = "127.0.0.1:5000/microbank/user-service@sha256:" + "ab" * 32


def vulnerability(vuln_id: str, severity: str, package: str = "openssl", **extra: str) -> dict:
    return {
        "VulnerabilityID": vuln_id,
        "PkgName": package,
        "InstalledVersion": "3.1.4-r0",
        "FixedVersion": "3.1.4-r5",
        "Severity": severity,
        "Title": f"{package}: a flaw in {vuln_id}",
        **extra,
    }


def secret(rule: str = "aws-access-key-id", line: int | None = 3) -> dict:
    found = {
        "RuleID": rule,
        "Category": "AWS",
        "Severity": "CRITICAL",
        "Title": "AWS Access Key ID",
        "Match": "AWS_ACCESS_KEY_ID=********************",
    }
    if line is not None:
        found["StartLine"] = line
        found["EndLine"] = line
    return found


def trivy_report(*results: dict) -> dict:
    return {
        "SchemaVersion": 2,
        "ArtifactName": IMAGE,
        "ArtifactType": "container_image",
        "Results": list(results),
    }


def os_packages(*vulns: dict) -> dict:
    return {
        "Target": f"{IMAGE} (alpine 3.19.1)",
        "Class": "os-pkgs",
        "Type": "alpine",
        "Vulnerabilities": list(vulns),
    }


def secrets_in(target: str, *secrets: dict) -> dict:
    return {"Target": target, "Class": "secret", "Secrets": list(secrets)}


def test_a_vulnerability_becomes_a_finding_with_its_package_and_versions():
    report = trivy_report(os_packages(vulnerability("CVE-2024-0727", "HIGH")))

    assert findings_from_report(report) == [
        Finding(
            kind="vulnerability",
            id="CVE-2024-0727",
            severity="HIGH",
            title="openssl: a flaw in CVE-2024-0727",
            package="openssl",
            installed_version="3.1.4-r0",
            fixed_version="3.1.4-r5",
            target=f"{IMAGE} (alpine 3.19.1)",
        )
    ]


def test_a_secret_becomes_a_finding_located_by_file_and_line():
    [finding] = findings_from_report(trivy_report(secrets_in("/app/.env", secret())))

    assert finding.kind == "secret"
    assert finding.id == "aws-access-key-id"
    assert finding.severity == "CRITICAL"
    assert finding.title == "AWS Access Key ID"
    assert finding.target == "/app/.env:3"


def test_a_secret_without_a_line_is_located_by_file():
    [finding] = findings_from_report(trivy_report(secrets_in("/app/.env", secret(line=None))))

    assert finding.target == "/app/.env"


def test_the_matched_secret_text_is_not_carried_into_the_finding():
    [finding] = findings_from_report(trivy_report(secrets_in("/app/.env", secret())))

    assert "AWS_ACCESS_KEY_ID=" not in finding.model_dump_json()


def test_findings_from_every_result_are_collected_in_order():
    report = trivy_report(
        os_packages(vulnerability("CVE-1", "LOW"), vulnerability("CVE-2", "MEDIUM")),
        secrets_in("/app/.env", secret("github-pat", line=1)),
        {"Target": "/app/package-lock.json", "Class": "lang-pkgs", "Vulnerabilities": None},
    )

    assert [f.id for f in findings_from_report(report)] == ["CVE-1", "CVE-2", "github-pat"]


def test_an_unknown_or_missing_severity_counts_as_unknown():
    report = trivy_report(
        os_packages(vulnerability("CVE-1", "SEVERE"), vulnerability("CVE-2", "high"))
    )
    del report["Results"][0]["Vulnerabilities"][0]["Severity"]

    assert [f.severity for f in findings_from_report(report)] == ["UNKNOWN", "HIGH"]


def test_a_very_long_title_is_shortened():
    long_title = "x" * 5000
    report = trivy_report(os_packages(vulnerability("CVE-1", "LOW", Title=long_title)))

    [finding] = findings_from_report(report)

    assert len(finding.title) == 200


def test_an_empty_report_has_no_findings():
    assert findings_from_report(trivy_report()) == []
    assert findings_from_report({"SchemaVersion": 2, "ArtifactName": IMAGE}) == []


def test_counts_by_severity_list_every_severity_including_zeros():
    report = trivy_report(
        os_packages(
            vulnerability("CVE-1", "HIGH"),
            vulnerability("CVE-2", "HIGH"),
            vulnerability("CVE-3", "LOW"),
        ),
        secrets_in("/app/.env", secret()),
    )

    counts = count_by_severity(findings_from_report(report))

    assert counts == {"UNKNOWN": 0, "LOW": 1, "MEDIUM": 0, "HIGH": 2, "CRITICAL": 1}


@pytest.mark.parametrize(
    "report",
    [
        {"Results": {"Target": "x"}},
        {"Results": "none"},
        ["not", "an", "object"],
    ],
    ids=["results-a-mapping", "results-a-string", "report-a-list"],
)
def test_a_malformed_report_is_a_permanent_error(report):
    with pytest.raises(PermanentError, match="no Results list"):
        findings_from_report(report)


def fixture_report(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def test_language_package_vulnerabilities_are_located_by_their_package_file():
    report = fixture_report("user-service-debian12.json")

    setuptools = next(f for f in findings_from_report(report) if f.package == "setuptools")

    assert setuptools.file.endswith("site-packages/setuptools-65.5.1.dist-info/METADATA")
    assert setuptools.fixed_version == "70.0.0"
    assert setuptools.url == "https://avd.aquasec.com/nvd/cve-2024-6345"


def test_os_package_vulnerabilities_have_no_file_and_unfixed_ones_no_fixed_version():
    report = fixture_report("user-service-debian12.json")

    zlib = next(f for f in findings_from_report(report) if f.id == "CVE-2023-45853")

    assert (zlib.package, zlib.installed_version, zlib.fixed_version) == (
        "zlib1g",
        "1:1.2.13.dfsg-1",
        "",
    )
    assert zlib.file == ""
    assert zlib.describe() == "CRITICAL CVE-2023-45853 in zlib1g 1:1.2.13.dfsg-1, no fix yet"


def test_a_real_trivy_report_yields_secrets_with_file_and_line_and_failed_checks():
    findings = findings_from_report(fixture_report("leaky-image-secrets-misconfig.json"))

    secrets = {(f.id, f.file, f.line, f.severity) for f in findings if f.kind == "secret"}
    checks = {(f.id, f.severity) for f in findings if f.kind == "misconfiguration"}
    assert secrets == {
        ("private-key", "/app/id_rsa", 1, "HIGH"),
        ("aws-access-key-id", "/app/config.env", 1, "CRITICAL"),
    }
    assert checks == {("DS001", "MEDIUM"), ("DS002", "HIGH"), ("DS026", "LOW")}
    ds002 = next(f for f in findings if f.id == "DS002")
    assert (ds002.file, ds002.line) == ("app/Dockerfile.app", 2)
    assert ds002.describe() == (
        "HIGH misconfiguration DS002 (Image user should not be 'root') in app/Dockerfile.app"
    )


def test_passed_checks_are_not_findings():
    passed = {"ID": "DS005", "Severity": "LOW", "Title": "ADD instead of COPY", "Status": "PASS"}
    failed = {"ID": "DS002", "Severity": "HIGH", "Title": "root user", "Status": "FAIL"}
    report = trivy_report(
        {"Target": "Dockerfile", "Class": "config", "Misconfigurations": [passed, failed]}
    )

    assert [f.id for f in findings_from_report(report)] == ["DS002"]


def test_the_kept_report_drops_the_lines_around_a_secret_but_keeps_the_masked_match():
    context = {"Number": 4, "Content": "DB_PASSWORD=hunter2-not-a-known-rule", "IsCause": False}
    cause = {"Number": 3, "Content": "AWS_ACCESS_KEY_ID=********************", "IsCause": True}
    found = {**secret(), "Code": {"Lines": [cause, context]}}
    report = trivy_report(secrets_in("/app/.env", found))

    kept = without_secret_context(report)

    text = json.dumps(kept)
    assert "hunter2" not in text
    assert kept["Results"][0]["Secrets"][0]["Code"]["Lines"] == [cause]
    assert kept["Results"][0]["Secrets"][0]["Match"] == found["Match"]
    assert report["Results"][0]["Secrets"][0]["Code"]["Lines"] == [cause, context]  # untouched

"""The vulnerability and secret policy, judged on realistic Trivy JSON reports.

Trivy's vulnerability DB cannot be downloaded here (no route to its OCI mirrors), so a real
`trivy image --scanners vuln` finds nothing to report. The vulnerability gate is therefore
tested on Trivy JSON reports with the shape Trivy 0.59 writes (tests/fixtures/trivy/): a
Debian 12 Python service with vulnerabilities of every severity, fixed and unfixed. Secrets
are also scanned for real in test_trivy.py and test_task.py.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from services.common.events import (
    Allowance,
    Finding,
    ImagePushed,
    ScanBypass,
    ScanFailed,
    ScanPassed,
    Source,
)
from services.notifier.messages import summary
from services.scanner.policy import Policy, bypass, decide
from services.scanner.report import findings_from_report

FIXTURES = Path(__file__).parents[1] / "fixtures" / "trivy"
DIGEST = "sha256:" + "ab" * 32
TODAY = date(2025, 3, 1)
ALL_COUNTS = {"UNKNOWN": 1, "LOW": 5, "MEDIUM": 8, "HIGH": 6, "CRITICAL": 3}
NO_FINDINGS = {"UNKNOWN": 0, "LOW": 0, "MEDIUM": 0, "HIGH": 0, "CRITICAL": 0}


def image_pushed(**extra: object) -> ImagePushed:
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
        **extra,
    )


def report_findings(name: str = "user-service-debian12.json") -> list[Finding]:
    return findings_from_report(json.loads((FIXTURES / name).read_text()))


def secret(rule: str = "aws-access-key-id", file: str = "/app/.env", severity: str = "CRITICAL"):
    report = {
        "Results": [
            {
                "Target": file,
                "Class": "secret",
                "Secrets": [{"RuleID": rule, "Severity": severity, "Title": rule, "StartLine": 3}],
            }
        ]
    }
    return findings_from_report(report)


def allow(finding_id: str, expires: date, path: str | None = None) -> Allowance:
    return Allowance(
        id=finding_id,
        reason="not reachable: we never parse ZIP files",
        expires=expires,
        path=path,
        origin="shipline.yaml services.user-service.scan.allowlist",
    )


def scan(found: list[Finding], policy: Policy | None = None) -> ScanPassed | ScanFailed:
    return decide(image_pushed(), found, policy or Policy(), TODAY)


def ids(findings: tuple[Finding, ...]) -> list[str]:
    return [f.id for f in findings]


# --- severities, fixes, budgets ----------------------------------------------------------


def test_the_default_policy_blocks_on_exactly_the_critical_vulnerabilities():
    result = scan(report_findings())

    assert isinstance(result, ScanFailed)
    assert ids(result.findings) == ["CVE-2024-45491", "CVE-2024-45492", "CVE-2023-45853"]
    assert result.violations == ("3 CRITICAL findings (CRITICAL blocks)",)
    assert result.counts == ALL_COUNTS


def test_a_breaking_vulnerability_carries_its_package_and_installed_and_fixed_versions():
    result = scan(report_findings())

    assert isinstance(result, ScanFailed)
    expat = result.findings[0]
    assert (expat.id, expat.severity, expat.package) == ("CVE-2024-45491", "CRITICAL", "libexpat1")
    assert (expat.installed_version, expat.fixed_version) == ("2.5.0-1", "2.5.0-1+deb12u1")
    assert expat.describe() == (
        "CRITICAL CVE-2024-45491 in libexpat1 2.5.0-1, fixed in 2.5.0-1+deb12u1"
    )


def test_ignoring_unfixed_vulnerabilities_leaves_only_the_fixable_ones_blocking():
    result = scan(report_findings(), Policy(ignore_unfixed=True))

    assert isinstance(result, ScanFailed)
    assert ids(result.findings) == ["CVE-2024-45491", "CVE-2024-45492"]
    assert result.unfixed_ignored == 9
    assert result.counts == ALL_COUNTS  # what Trivy found, whatever the policy counted


def test_a_high_threshold_blocks_every_high_and_critical_vulnerability_highest_first():
    policy = Policy(block_severities=frozenset({"HIGH", "CRITICAL"}))

    result = scan(report_findings(), policy)

    assert isinstance(result, ScanFailed)
    assert [f.severity for f in result.findings] == ["CRITICAL"] * 3 + ["HIGH"] * 6
    assert result.violations == (
        "3 CRITICAL findings (CRITICAL blocks)",
        "6 HIGH findings (HIGH blocks)",
    )


def test_a_budget_within_its_maximum_passes_with_the_counts_by_severity():
    policy = Policy(block_severities=frozenset(), max_counts={"HIGH": 6, "CRITICAL": 3})

    result = scan(report_findings(), policy)

    assert isinstance(result, ScanPassed)
    assert result.counts == ALL_COUNTS


def test_a_budget_exceeded_lists_every_counted_finding_of_that_severity():
    policy = Policy(max_counts={"MEDIUM": 5, "CRITICAL": 3})

    result = scan(report_findings(), policy)

    assert isinstance(result, ScanFailed)
    assert {f.severity for f in result.findings} == {"MEDIUM"}
    assert len(result.findings) == 8
    assert result.violations == ("8 MEDIUM findings, more than the 5 allowed",)


def test_a_budget_counts_only_fixable_vulnerabilities_when_unfixed_are_ignored():
    policy = Policy(block_severities=frozenset(), max_counts={"MEDIUM": 6}, ignore_unfixed=True)

    assert isinstance(scan(report_findings(), policy), ScanPassed)  # 8 MEDIUM, 2 unfixed


def test_a_maximum_of_zero_blocks_like_a_blocked_severity():
    policy = Policy(block_severities=frozenset(), max_counts={"UNKNOWN": 0})

    result = scan(report_findings(), policy)

    assert isinstance(result, ScanFailed)
    assert ids(result.findings) == ["CVE-2025-0395"]


def test_a_report_without_findings_passes_with_zero_counts():
    result = scan([])

    assert isinstance(result, ScanPassed)
    assert result.counts == NO_FINDINGS
    assert result.suppressed == ()


# --- secrets -------------------------------------------------------------------------------


def test_a_secret_blocks_whatever_its_severity_and_the_vulnerability_policy():
    policy = Policy(block_severities=frozenset(), max_counts={"LOW": 100})

    result = scan(secret(severity="LOW"), policy)

    assert isinstance(result, ScanFailed)
    assert ids(result.findings) == ["aws-access-key-id"]
    assert result.violations == ("1 secret found (secrets always block)",)
    assert result.findings[0].describe() == "LOW secret aws-access-key-id in /app/.env:3"


def test_secrets_are_listed_before_the_vulnerabilities_that_broke_the_policy():
    result = scan(report_findings() + secret("private-key", "/app/id_rsa", "HIGH"))

    assert isinstance(result, ScanFailed)
    assert ids(result.findings)[0] == "private-key"
    assert len(result.findings) == 4


def test_a_policy_that_explicitly_allows_secrets_lets_them_through():
    result = scan(secret(), Policy(allow_secrets=True))

    assert isinstance(result, ScanPassed)
    assert result.counts["CRITICAL"] == 1


def test_a_secret_allowlisted_for_its_file_passes_and_the_same_rule_elsewhere_blocks():
    policy = Policy(allowlist=(allow("private-key", date(2025, 6, 30), path="app/fixtures/*"),))
    fixture_key = secret("private-key", "/app/fixtures/test-ca.key", "HIGH")
    real_key = secret("private-key", "/app/id_rsa", "HIGH")

    assert isinstance(scan(fixture_key, policy), ScanPassed)
    blocked = scan(fixture_key + real_key, policy)
    assert isinstance(blocked, ScanFailed)
    assert [f.file for f in blocked.findings] == ["/app/id_rsa"]
    assert [f.file for f in blocked.suppressed] == ["/app/fixtures/test-ca.key"]


# --- the allowlist ---------------------------------------------------------------------------


def test_an_allowlisted_vulnerability_is_suppressed_and_the_pass_says_by_which_entry():
    entries = tuple(
        allow(cve, date(2025, 6, 30))
        for cve in ("CVE-2024-45491", "CVE-2024-45492", "CVE-2023-45853")
    )

    result = scan(report_findings(), Policy(allowlist=entries))

    assert isinstance(result, ScanPassed)
    assert ids(result.suppressed) == ["CVE-2024-45491", "CVE-2024-45492", "CVE-2023-45853"]
    zlib = result.suppressed[2]
    assert zlib.allowance is not None
    assert zlib.allowance.reason == "not reachable: we never parse ZIP files"
    assert zlib.allowance.expires == date(2025, 6, 30)
    assert zlib.allowance.origin == "shipline.yaml services.user-service.scan.allowlist"
    assert not zlib.allowance.expired
    assert result.counts == ALL_COUNTS


def test_an_allowlist_entry_still_applies_on_its_expiry_day():
    policy = Policy(
        block_severities=frozenset({"UNKNOWN"}), allowlist=(allow("CVE-2025-0395", TODAY),)
    )

    assert isinstance(scan(report_findings(), policy), ScanPassed)


def test_an_expired_allowlist_entry_blocks_again_and_says_it_expired():
    entries = (
        allow("CVE-2024-45491", date(2025, 6, 30)),
        allow("CVE-2024-45492", date(2025, 6, 30)),
        allow("CVE-2023-45853", date(2025, 2, 28)),
    )

    result = scan(report_findings(), Policy(allowlist=entries))

    assert isinstance(result, ScanFailed)
    [zlib] = result.findings
    assert zlib.id == "CVE-2023-45853"
    assert zlib.allowance is not None and zlib.allowance.expired
    assert "allowlist entry expired 2025-02-28: not reachable" in zlib.describe()
    assert result.violations == (
        "1 CRITICAL finding (CRITICAL blocks)",
        "allowlist entry CVE-2023-45853 (shipline.yaml services.user-service.scan.allowlist) "
        "expired 2025-02-28",
    )
    assert ids(result.suppressed) == ["CVE-2024-45491", "CVE-2024-45492"]


def test_the_block_notification_says_that_the_allowlist_entry_expired():
    entries = (allow("CVE-2023-45853", date(2025, 2, 28)),)
    policy = Policy(ignore_unfixed=False, max_counts={"CRITICAL": 2}, allowlist=entries)

    result = scan(report_findings(), policy)

    assert isinstance(result, ScanFailed)
    text = summary(result)
    assert "3 CRITICAL findings, more than the 2 allowed" in text
    assert "allowlist entry CVE-2023-45853" in text and "expired 2025-02-28" in text
    assert "CVE-2023-45853 in zlib1g 1:1.2.13.dfsg-1, no fix yet (allowlist entry expired" in text


def test_a_current_entry_wins_over_an_expired_one_for_the_same_finding():
    renewed = allow("CVE-2023-45853", date(2025, 9, 30)).model_copy(update={"origin": "server"})
    entries = (allow("CVE-2023-45853", date(2024, 12, 31)), renewed)
    policy = Policy(block_severities=frozenset(), max_counts={"CRITICAL": 2}, allowlist=entries)

    result = scan(report_findings(), policy)

    assert isinstance(result, ScanPassed)
    [zlib] = result.suppressed
    assert zlib.allowance is not None and zlib.allowance.origin == "server"


def test_allowlist_ids_match_whatever_their_case():
    policy = Policy(allowlist=(allow("cve-2023-45853", date(2025, 6, 30)),))

    result = scan(report_findings(), policy)

    assert "CVE-2023-45853" in ids(result.suppressed)


# --- the event -------------------------------------------------------------------------------


def test_the_result_carries_the_image_the_policy_and_the_report_locations():
    image = image_pushed()

    result = decide(
        image, [], Policy(), TODAY, report_location="/r/a.trivy.json", sarif_location="/r/a.sarif"
    )

    assert (result.run_id, result.service, result.source) == (
        image.run_id,
        image.service,
        image.source,
    )
    assert result.image == "127.0.0.1:5000/microbank/user-service:sha-6113728"
    assert result.digest == DIGEST
    assert result.policy == "any secret blocks; CRITICAL findings block"
    assert (result.report_location, result.sarif_location) == ("/r/a.trivy.json", "/r/a.sarif")


@pytest.mark.parametrize(("secret_found", "kind"), [(False, "ScanPassed"), (True, "ScanFailed")])
def test_the_result_id_is_derived_from_the_image_pushed_event(secret_found, kind):
    image = image_pushed()
    found = secret() if secret_found else []

    first = decide(image, found, Policy(), TODAY)
    again = decide(image, found, Policy(), TODAY)

    assert first.type == kind
    assert first.event_id == again.event_id == image.follow_up_id(kind)
    assert decide(image_pushed(), found, Policy(), TODAY).event_id != first.event_id


def test_the_policy_describes_every_rule_and_where_it_comes_from():
    policy = Policy(
        block_severities=frozenset({"HIGH", "CRITICAL"}),
        max_counts={"MEDIUM": 10, "HIGH": 2},
        ignore_unfixed=True,
        allowlist=(allow("CVE-1", TODAY),),
        sources=("server settings", "shipline.yaml scan"),
    )

    assert policy.describe() == (
        "any secret blocks; CRITICAL findings block; more than 2 HIGH block; "
        "more than 10 MEDIUM block; unfixed vulnerabilities ignored; 1 allowlist entry "
        "(from server settings, shipline.yaml scan)"
    )
    assert Policy(block_severities=frozenset(), allow_secrets=True).describe() == "secrets allowed"


# --- the emergency bypass --------------------------------------------------------------------


def test_a_bypassed_image_passes_unscanned_marked_with_who_skipped_it_and_why():
    skip = ScanBypass(by="dana@acme.dev", reason="hotfix for INC-4211, scanner DB outage")
    image = image_pushed(skip_scan=skip)

    result = bypass(image)

    assert isinstance(result, ScanPassed)
    assert result.skipped == skip
    assert result.counts == {}
    assert result.policy == "scan skipped by dana@acme.dev: hotfix for INC-4211, scanner DB outage"
    assert result.event_id == image.follow_up_id("ScanPassed")


def test_an_image_that_did_not_ask_to_skip_cannot_be_bypassed():
    with pytest.raises(ValueError, match="did not ask"):
        bypass(image_pushed())

"""SARIF of a scan: only what the policy looks at, allowlisted findings marked as suppressed."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from services.common.events import Allowance, Finding
from services.scanner.policy import Policy
from services.scanner.report import findings_from_report
from services.scanner.sarif import to_sarif

FIXTURES = Path(__file__).parents[1] / "fixtures" / "trivy"
IMAGE = "127.0.0.1:5000/microbank/user-service@sha256:" + "ab" * 32
TODAY = date(2025, 3, 1)


def findings(name: str) -> list[Finding]:
    return findings_from_report(json.loads((FIXTURES / name).read_text()))


def vulnerabilities_and_secrets() -> list[Finding]:
    return findings("user-service-debian12.json") + findings("leaky-image-secrets-misconfig.json")


def results(sarif: dict) -> list[dict]:
    [run] = sarif["runs"]
    return run["results"]


def test_sarif_is_version_2_1_0_with_trivy_as_the_tool() -> None:
    sarif = to_sarif(vulnerabilities_and_secrets(), Policy(), TODAY, IMAGE)

    assert sarif["version"] == "2.1.0"
    assert sarif["$schema"].endswith("sarif-2.1.0.json")
    [run] = sarif["runs"]
    assert run["tool"]["driver"]["name"] == "Trivy"
    assert run["properties"] == {"artifact": IMAGE, "policy": Policy().describe()}
    json.dumps(sarif)  # plain JSON all the way down


def test_sarif_keeps_only_the_policys_severities_and_every_secret() -> None:
    sarif = to_sarif(vulnerabilities_and_secrets(), Policy(), TODAY, IMAGE)

    found = [(r["ruleId"], r["properties"]["severity"]) for r in results(sarif)]
    assert found == [
        ("CVE-2024-45491", "CRITICAL"),
        ("CVE-2024-45492", "CRITICAL"),
        ("CVE-2023-45853", "CRITICAL"),
        ("private-key", "HIGH"),
        ("aws-access-key-id", "CRITICAL"),
    ]


def test_sarif_of_a_stricter_policy_adds_its_severities_and_budgets() -> None:
    policy = Policy(block_severities=frozenset({"HIGH", "CRITICAL"}), max_counts={"MEDIUM": 10})

    sarif = to_sarif(vulnerabilities_and_secrets(), policy, TODAY, IMAGE)

    severities = {r["properties"]["severity"] for r in results(sarif)}
    assert severities == {"CRITICAL", "HIGH", "MEDIUM"}
    checks = [r["ruleId"] for r in results(sarif) if r["ruleId"].startswith("DS")]
    assert checks == ["DS001", "DS002"]  # DS026 is LOW


def test_sarif_leaves_out_unfixed_vulnerabilities_the_policy_ignores() -> None:
    sarif = to_sarif(vulnerabilities_and_secrets(), Policy(ignore_unfixed=True), TODAY, IMAGE)

    ids = [r["ruleId"] for r in results(sarif)]
    assert "CVE-2023-45853" not in ids
    assert ids[:2] == ["CVE-2024-45491", "CVE-2024-45492"]


def test_an_allowlisted_finding_is_an_accepted_suppression_with_its_reason() -> None:
    entry = Allowance(
        id="CVE-2023-45853",
        reason="minizip unused",
        expires=date(2025, 6, 30),
        origin="shipline.yaml scan.allowlist",
    )

    sarif = to_sarif(vulnerabilities_and_secrets(), Policy(allowlist=(entry,)), TODAY, IMAGE)

    zlib = next(r for r in results(sarif) if r["ruleId"] == "CVE-2023-45853")
    assert zlib["suppressions"] == [
        {
            "kind": "external",
            "status": "accepted",
            "justification": "minizip unused (until 2025-06-30, shipline.yaml scan.allowlist)",
        }
    ]
    expat = next(r for r in results(sarif) if r["ruleId"] == "CVE-2024-45491")
    assert "suppressions" not in expat


def test_an_expired_allowlist_entry_suppresses_nothing_in_sarif() -> None:
    entry = Allowance(id="CVE-2023-45853", reason="minizip unused", expires=date(2025, 1, 31))

    sarif = to_sarif(vulnerabilities_and_secrets(), Policy(allowlist=(entry,)), TODAY, IMAGE)

    zlib = next(r for r in results(sarif) if r["ruleId"] == "CVE-2023-45853")
    assert "suppressions" not in zlib


def test_each_result_points_at_its_rule_with_a_level_and_a_location() -> None:
    policy = Policy(block_severities=frozenset({"HIGH", "CRITICAL"}))

    sarif = to_sarif(vulnerabilities_and_secrets(), policy, TODAY, IMAGE)

    [run] = sarif["runs"]
    rules = run["tool"]["driver"]["rules"]
    assert len({rule["id"] for rule in rules}) == len(rules)
    for result in run["results"]:
        rule = rules[result["ruleIndex"]]
        assert rule["id"] == result["ruleId"]
        assert result["level"] == "error"
        assert float(rule["properties"]["security-severity"]) >= 7.0
    key = next(r for r in run["results"] if r["ruleId"] == "private-key")
    assert key["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": "app/id_rsa"},
        "region": {"startLine": 1},
    }
    glibc = next(r for r in run["results"] if r["ruleId"] == "CVE-2023-4911")
    assert glibc["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == IMAGE
    assert glibc["properties"]["fixedVersion"] == "2.36-9+deb12u3"
    assert next(r for r in rules if r["id"] == "CVE-2023-4911")["helpUri"].endswith("cve-2023-4911")

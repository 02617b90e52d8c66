"""The policy a service gets: server settings, then shipline.yaml top level and service `scan:`."""

from __future__ import annotations

from datetime import date

from services.common.project import Project, parse_project
from services.common.settings import ScannerSettings
from services.scanner.policy import environment_policy, fingerprint, policy_for

SHIPLINE_YAML = """
registry: 127.0.0.1:5000/microbank
scan:
  block_severities: [HIGH, CRITICAL]
  max_counts: {MEDIUM: 20}
  allowlist:
    - id: CVE-2023-45853
      reason: zlib's minizip is not linked by any service
      expires: 2025-06-30
services:
  user-service:
    path: user_service/
    scan:
      ignore_unfixed: true
      max_counts: {MEDIUM: 5, HIGH: 2}
      allowlist:
        - {id: private-key, reason: test CA for the mTLS tests, expires: 2025-04-30,
           path: app/tests/fixtures/*}
  account-service:
    path: account_service/
"""


def project() -> Project:
    return parse_project(SHIPLINE_YAML)


def test_without_shipline_yaml_rules_the_server_policy_applies() -> None:
    settings = ScannerSettings(block_severities=["CRITICAL"], ignore_unfixed=True)

    policy = policy_for(settings, None, "user-service")

    assert policy.block_severities == {"CRITICAL"}
    assert policy.ignore_unfixed
    assert not policy.allow_secrets
    assert policy.allowlist == ()
    assert policy.sources == ("server settings",)


def test_a_service_inherits_the_top_level_scan_block_and_overrides_it_key_by_key() -> None:
    policy = policy_for(ScannerSettings(), project(), "user-service")

    assert policy.block_severities == {"HIGH", "CRITICAL"}  # top level
    assert policy.ignore_unfixed  # the service
    assert policy.max_counts == {"MEDIUM": 5, "HIGH": 2}  # the service's, per severity
    assert policy.sources == (
        "server settings",
        "shipline.yaml scan",
        "shipline.yaml services.user-service.scan",
    )


def test_allowlists_add_up_and_each_entry_says_where_it_is_set() -> None:
    settings = ScannerSettings(
        allowlist=[{"id": "CVE-2011-3374", "reason": "apt-key unused", "expires": "2026-01-01"}]
    )

    policy = policy_for(settings, project(), "user-service")

    assert [(e.id, e.origin) for e in policy.allowlist] == [
        ("CVE-2011-3374", "server settings scanner.allowlist"),
        ("CVE-2023-45853", "shipline.yaml scan.allowlist"),
        ("private-key", "shipline.yaml services.user-service.scan.allowlist"),
    ]
    key = policy.allowlist[2]
    assert (key.expires, key.path) == (date(2025, 4, 30), "app/tests/fixtures/*")


def test_another_service_gets_only_the_top_level_overrides() -> None:
    policy = policy_for(ScannerSettings(ignore_unfixed=False), project(), "account-service")

    assert not policy.ignore_unfixed
    assert policy.max_counts == {"MEDIUM": 20}
    assert [e.id for e in policy.allowlist] == ["CVE-2023-45853"]
    assert policy.sources == ("server settings", "shipline.yaml scan")


def test_a_service_can_explicitly_allow_secrets_and_only_that_service_is_affected() -> None:
    text = SHIPLINE_YAML.replace(
        "    scan:\n      ignore_unfixed: true", "    scan:\n      allow_secrets: true"
    )

    assert policy_for(ScannerSettings(), parse_project(text), "user-service").allow_secrets
    assert not policy_for(ScannerSettings(), parse_project(text), "account-service").allow_secrets


def test_a_service_missing_from_shipline_yaml_gets_the_top_level_policy() -> None:
    policy = policy_for(ScannerSettings(), project(), "legacy-service")

    assert policy.block_severities == {"HIGH", "CRITICAL"}


ENVIRONMENTS_YAML = """
registry: 127.0.0.1:5000/microbank
environments:
  - name: staging
  - name: production
    from: staging
    scan:
      allow_secrets: false
      block_severities: [HIGH, CRITICAL]
      allowlist:
        - {id: CVE-2024-0001, reason: not reachable from the service, expires: 2030-01-01}
services:
  user-service:
    path: user_service/
    manifest: k8s/{environment}/user-service.yaml
    scan:
      allow_secrets: true
      max_counts: {MEDIUM: 5}
"""


def test_an_environment_s_scan_block_overrides_the_service_s_policy_there_only() -> None:
    environments = parse_project(ENVIRONMENTS_YAML)
    service = policy_for(ScannerSettings(), environments, "user-service")

    staging = environment_policy(ScannerSettings(), environments, "user-service", "staging")
    production = environment_policy(ScannerSettings(), environments, "user-service", "production")

    assert staging == service and fingerprint(staging) == fingerprint(service)
    assert service.allow_secrets and not production.allow_secrets
    assert production.block_severities == {"HIGH", "CRITICAL"}
    assert production.max_counts == {"MEDIUM": 5}  # the service's, kept where not overridden
    [entry] = production.allowlist
    assert entry.origin == "shipline.yaml environments.production.scan.allowlist"
    assert production.sources[-1] == "shipline.yaml environments.production.scan"
    assert fingerprint(production) != fingerprint(service)


def test_a_policy_s_fingerprint_ignores_where_its_rules_are_written() -> None:
    at_top = project()
    moved = parse_project(
        "registry: 127.0.0.1:5000/microbank\nservices:\n  account-service:\n"
        "    path: account_service/\n    scan:\n      block_severities: [HIGH, CRITICAL]\n"
        "      max_counts: {MEDIUM: 20}\n      allowlist:\n        - id: CVE-2023-45853\n"
        "          reason: zlib's minizip is not linked by any service\n"
        "          expires: 2025-06-30\n"
    )

    top = policy_for(ScannerSettings(), at_top, "account-service")
    service = policy_for(ScannerSettings(), moved, "account-service")

    assert top.sources != service.sources
    assert fingerprint(top) == fingerprint(service)

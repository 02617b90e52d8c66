"""`scan:` blocks of shipline.yaml and the scanner's server settings: bad ones are refused with
the file and the key."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from services.common.errors import ConfigError
from services.common.project import parse_project
from services.common.settings import load_settings

ORIGIN = "acme/microbank@6113728:shipline.yaml"


pytestmark = pytest.mark.usefixtures("no_shipline_environment")


def shipline_yaml(service_scan: str = "", top_scan: str = "") -> str:
    return (
        "registry: 127.0.0.1:5000/microbank\n"
        f"{top_scan}"
        "services:\n"
        "  user-service:\n"
        "    path: user_service/\n"
        f"{service_scan}"
    )


def test_a_valid_scan_block_parses_to_typed_rules() -> None:
    project = parse_project(
        shipline_yaml(
            "    scan:\n"
            "      block_severities: [HIGH, CRITICAL]\n"
            "      max_counts: {MEDIUM: 10}\n"
            "      allowlist:\n"
            "        - {id: CVE-2023-45853, reason: minizip unused, expires: 2025-06-30}\n"
        )
    )

    rules = project.services["user-service"].scan
    assert rules is not None
    assert rules.block_severities == ("HIGH", "CRITICAL")
    assert rules.max_counts == {"MEDIUM": 10}
    assert rules.ignore_unfixed is None  # unset: inherited
    assert rules.allowlist[0].expires == date(2025, 6, 30)


@pytest.mark.parametrize(
    ("scan_block", "key", "expected"),
    [
        (
            "      allowlist: [{id: CVE-2023-1, expires: 2025-06-30}]\n",
            "services.user-service.scan.allowlist.0.reason",
            "Field required",
        ),
        (
            "      allowlist: [{id: CVE-2023-1, reason: ok for now}]\n",
            "services.user-service.scan.allowlist.0.expires",
            "Field required",
        ),
        (
            "      allowlist: [{id: CVE-2023-1, reason: ok for now, expires: someday}]\n",
            "services.user-service.scan.allowlist.0.expires",
            "valid date",
        ),
        (
            "      allowlist: [{id: CVE-2023-1, reason: '  ', expires: 2025-06-30}]\n",
            "services.user-service.scan.allowlist.0.reason",
            "must say why",
        ),
        (
            "      allowlist: [{id: CVE-2023-1, reason: test key, expires: 2025-06-30, "
            "path: ../etc/*}]\n",
            "services.user-service.scan.allowlist.0.path",
            "file path or glob",
        ),
        (
            "      block_severities: [SEVERE]\n",
            "services.user-service.scan.block_severities.0",
            "'UNKNOWN', 'LOW', 'MEDIUM', 'HIGH' or 'CRITICAL'",
        ),
        (
            "      max_counts: {HIGH: -1}\n",
            "services.user-service.scan.max_counts.HIGH",
            "greater than or equal to 0",
        ),
        ("      allow_secret: true\n", "services.user-service.scan.allow_secret", "not permitted"),
    ],
    ids=[
        "no-reason",
        "no-expiry",
        "bad-expiry",
        "blank-reason",
        "path-escapes",
        "bad-severity",
        "negative-max",
        "misspelt-key",
    ],
)
def test_a_bad_service_scan_block_names_the_file_and_the_key(
    scan_block: str, key: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_project(shipline_yaml("    scan:\n" + scan_block), origin=ORIGIN)

    message = str(caught.value)
    assert message.startswith(f"{ORIGIN}: {key}: "), message
    assert expected in message


def test_a_bad_top_level_scan_block_names_the_file_and_the_key() -> None:
    with pytest.raises(ConfigError, match=rf"^{ORIGIN}: scan.ignore_unfixed: "):
        parse_project(shipline_yaml(top_scan="scan:\n  ignore_unfixed: maybe\n"), origin=ORIGIN)


def test_server_scan_policy_settings_load_from_yaml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "server.yaml"
    config.write_text(
        "scanner:\n"
        "  server_url: http://trivy.internal:4954\n"
        "  server_token: a-long-trivy-server-token\n"
        "  ignore_unfixed: true\n"
        "  max_counts: {HIGH: 3}\n"
        "  allowlist:\n"
        "    - {id: CVE-2011-3374, reason: apt-key is never run, expires: 2026-01-31}\n"
    )
    monkeypatch.setenv("SHIPLINE_CONFIG", str(config))

    scanner = load_settings().scanner

    assert scanner.server_url == "http://trivy.internal:4954"
    assert scanner.server_token is not None
    assert "a-long-trivy-server-token" not in repr(scanner)
    assert scanner.ignore_unfixed and scanner.max_counts == {"HIGH": 3}
    assert scanner.allowlist[0].id == "CVE-2011-3374"
    assert scanner.block_severities == ["CRITICAL"]  # the default stays


def test_a_server_allowlist_entry_without_expiry_is_refused_naming_the_variable_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SHIPLINE_SCANNER__ALLOWLIST", '[{"id": "CVE-1", "reason": "later"}]')

    with pytest.raises(ConfigError, match=r"scanner\.allowlist\.0\.expires: Field required"):
        load_settings()


def test_a_trivy_server_url_must_be_http_or_https(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIPLINE_SCANNER__SERVER_URL", "trivy:4954")

    with pytest.raises(ConfigError, match=r"scanner\.server_url"):
        load_settings()

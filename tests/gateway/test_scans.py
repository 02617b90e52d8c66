"""GET /api/v1/runs/{run_id}/services/{service}/scan, in-process, on a real Redis and the
reports the scanner keeps in the workdir."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient

from services.common.events import Allowance, Envelope, ImagePushed, ScanBypass, Source
from services.common.runtime import Runtime
from services.common.scan_reports import ScanReports
from services.common.settings import Settings
from services.gateway.app import create_app
from services.scanner.policy import Policy, bypass, decide
from services.scanner.report import findings_from_report
from services.scanner.sarif import to_sarif
from tests.gateway.reader import READ_TOKEN, READER

RUN = "20250301120000-0a1b2c3d"
URL = f"/api/v1/runs/{RUN}/services/user-service/scan"
TODAY = date(2025, 3, 1)
REPORT = {
    "SchemaVersion": 2,
    "ArtifactName": "127.0.0.1:5000/microbank/user-service@sha256:" + "ab" * 32,
    "Results": [
        {
            "Target": "/app/.env",
            "Class": "secret",
            "Secrets": [
                {"RuleID": "aws-access-key-id", "Severity": "CRITICAL", "StartLine": 3},
                {"RuleID": "private-key", "Severity": "HIGH", "StartLine": 9},
            ],
        }
    ],
}


def image(**extra: object) -> ImagePushed:
    return ImagePushed(
        run_id=RUN,
        service="user-service",
        source=Source(repository="acme/microbank", commit="6" * 40, ref="refs/heads/main"),
        image_repository="127.0.0.1:5000/microbank/user-service",
        tags=("sha-6666666", "latest"),
        digest="sha256:" + "ab" * 32,
        **extra,
    )


@pytest.fixture
def runtime(redis_url: str, redis_client: redis.Redis, tmp_path: Path) -> Runtime:
    runtime = Runtime(Settings(redis_url=redis_url, workdir=tmp_path, api_tokens=[READ_TOKEN]))
    runtime.runs.create(RUN, trigger="push")
    return runtime


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime.settings, runtime), headers=READER) as test_client:
        yield test_client


def scanned(runtime: Runtime, policy: Policy) -> Envelope:
    """What the scanner does: keep both reports, then log its decision."""
    findings = findings_from_report(REPORT)
    sarif = to_sarif(findings, policy, TODAY, REPORT["ArtifactName"])
    files = ScanReports(runtime.settings.workdir / "reports").save(
        RUN, "user-service", REPORT, sarif
    )
    outcome = decide(image(), findings, policy, TODAY, report_location=str(files.json))
    runtime.event_log.append(outcome)
    return outcome


def test_the_summary_of_a_blocked_scan_lists_the_breaking_findings_and_links_the_reports(
    client: TestClient, runtime: Runtime
) -> None:
    scanned(runtime, Policy())

    response = client.get(URL)

    assert response.status_code == 200
    body = response.json()
    assert body["outcome"] == "failed"
    assert body["image"] == "127.0.0.1:5000/microbank/user-service:sha-6666666"
    assert body["violations"] == ["2 secrets found (secrets always block)"]
    assert [(f["id"], f["target"]) for f in body["findings"]] == [
        ("aws-access-key-id", "/app/.env:3"),
        ("private-key", "/app/.env:9"),
    ]
    assert body["counts"]["CRITICAL"] == 1 and body["counts"]["HIGH"] == 1
    assert body["reports"] == {"json": f"{URL}?format=json", "sarif": f"{URL}?format=sarif"}
    assert body["policy"] == "any secret blocks; CRITICAL findings block"


def test_the_summary_of_a_pass_carries_what_the_allowlist_suppressed(
    client: TestClient, runtime: Runtime
) -> None:
    entries = tuple(
        Allowance(id=rule, reason="rotated, revoked keys", expires=date(2025, 3, 31))
        for rule in ("aws-access-key-id", "private-key")
    )
    scanned(runtime, Policy(allowlist=entries))

    body = client.get(URL).json()

    assert body["outcome"] == "passed"
    assert body["findings"] == []
    assert [(f["id"], f["allowance"]["expires"]) for f in body["suppressed"]] == [
        ("aws-access-key-id", "2025-03-31"),
        ("private-key", "2025-03-31"),
    ]


def test_the_full_trivy_json_and_the_sarif_are_served_by_format(
    client: TestClient, runtime: Runtime
) -> None:
    scanned(runtime, Policy())

    trivy = client.get(URL, params={"format": "json"})
    sarif = client.get(URL, params={"format": "sarif"})

    assert trivy.status_code == 200 and trivy.headers["content-type"] == "application/json"
    assert trivy.json() == REPORT
    assert sarif.status_code == 200
    assert sarif.headers["content-type"] == "application/sarif+json"
    assert sarif.json()["version"] == "2.1.0"
    assert f'filename="{RUN}-user-service.sarif"' in sarif.headers["content-disposition"]


def test_a_skipped_scan_says_by_whom_and_has_no_reports(
    client: TestClient, runtime: Runtime
) -> None:
    skip = ScanBypass(by="dana@acme.dev", reason="INC-4211 hotfix")
    runtime.event_log.append(bypass(image(skip_scan=skip)))

    body = client.get(URL).json()
    report = client.get(URL, params={"format": "sarif"})

    assert body["outcome"] == "skipped"
    assert body["skipped"] == {"by": "dana@acme.dev", "reason": "INC-4211 hotfix"}
    assert body["reports"] == {}
    assert report.status_code == 404
    assert "skipped" in report.json()["detail"]


@pytest.mark.parametrize(
    ("url", "status", "detail"),
    [
        ("/api/v1/runs/no-such-run/services/user-service/scan", 404, "run no-such-run not found"),
        (f"/api/v1/runs/{RUN}/services/account-service/scan", 404, "no scan of account-service"),
        (f"{URL}?format=html", 422, None),
        (f"/api/v1/runs/{RUN}/services/User_Service/scan", 422, None),
    ],
    ids=["unknown-run", "service-not-scanned", "unknown-format", "bad-service-name"],
)
def test_what_cannot_be_answered_gets_a_clear_4xx(
    client: TestClient, runtime: Runtime, url: str, status: int, detail: str | None
) -> None:
    scanned(runtime, Policy())

    response = client.get(url)

    assert response.status_code == status
    if detail:
        assert detail in response.json()["detail"]


def test_a_report_missing_from_the_workdir_is_a_404_that_says_where_it_looked(
    client: TestClient, runtime: Runtime
) -> None:
    scanned(runtime, Policy())
    (runtime.settings.workdir / "reports" / RUN / "user-service.trivy.json").unlink()

    response = client.get(URL, params={"format": "json"})

    assert response.status_code == 404
    assert "workdir" in response.json()["detail"]
    assert json.loads(client.get(URL, params={"format": "sarif"}).text)["version"] == "2.1.0"

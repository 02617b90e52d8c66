"""A scan reported to its git host, on loopback hosts and a real Redis: GitHub's code-scanning
upload checked against GitHub's published OpenAPI description (npm @octokit/openapi), once
per scan, its refusals recorded and never raised; GitLab and Gitea given a commit status
linking the run (their fakes follow the hosts' REST documentation)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import redis
from structlog.testing import capture_logs

from services.common.events import ScanPassed
from services.common.repository_settings import GitHost, Repository
from services.common.scan_host_reports import ScanHostReports
from services.githost.code_scanning import HostScanReports
from tests.githost.conftest import TOKEN
from tests.githost.fake_github import FakeGitHub
from tests.githost.loopback import Reply
from tests.githost.test_code_scanning_payloads import COMMIT, SARIF, outcome

pytestmark = pytest.mark.integration  # npm fetches the description into the devenv state


@pytest.fixture
def scan(tmp_path: Path) -> ScanPassed:
    kept = tmp_path / "user-service.sarif.json"
    kept.write_text(json.dumps(SARIF))
    passed = outcome()
    assert isinstance(passed, ScanPassed)
    return passed.model_copy(update={"sarif_location": str(kept)})


def reporter(redis_client: redis.Redis, host: GitHost) -> HostScanReports:
    repo = Repository(name="acme/shop", url="file:///x", webhook_secret="x" * 20, host=host)
    return HostScanReports([repo], ScanHostReports(redis_client))


def on_github(github: FakeGitHub) -> GitHost:
    return GitHost(type="github", api_url=github.host.url, token=TOKEN)


def test_the_scans_sarif_is_uploaded_through_described_requests_and_its_receipt_kept(
    github: FakeGitHub, redis_client: redis.Redis, scan: ScanPassed
) -> None:
    report = reporter(redis_client, on_github(github)).report(scan)

    [upload] = github.code_scanning.uploads
    assert (upload.owner_repo, upload.commit_sha, upload.ref) == (
        "acme/shop",
        COMMIT,
        "refs/heads/main",
    )
    assert upload.sarif["runs"][0]["automationDetails"] == {"id": "shipline/user-service/run-7"}
    assert upload.sarif["runs"][0]["results"] == SARIF["runs"][0]["results"]
    assert github.host.violations == []
    assert report is not None and report.state == "uploaded"
    kept = ScanHostReports(redis_client).get("run-7", "user-service")
    assert kept == report
    assert kept.sarif_id == "6c81cd8e-b078-4ac3-a3be-000000000001"
    assert kept.status_url and kept.status_url.endswith(f"/code-scanning/sarifs/{kept.sarif_id}")
    assert kept.category == "shipline/user-service/"


def test_a_redelivered_scan_uploads_nothing_more(
    github: FakeGitHub, redis_client: redis.Redis, scan: ScanPassed
) -> None:
    first = reporter(redis_client, on_github(github)).report(scan)
    again = reporter(redis_client, on_github(github)).report(scan)

    assert again is None and len(github.code_scanning.uploads) == 1
    assert ScanHostReports(redis_client).get("run-7", "user-service") == first


def test_code_scanning_off_is_recorded_with_githubs_reason_and_never_raised(
    github: FakeGitHub, redis_client: redis.Redis, scan: ScanPassed
) -> None:
    refusal = {"message": f"Advanced Security must be enabled for this repository {TOKEN}"}
    github.host.scripted.append(Reply(403, refusal))

    with capture_logs() as logs:
        report = reporter(redis_client, on_github(github)).report(scan)

    assert report is not None and report.state == "failed" and report.reason
    assert "HTTP 403: Advanced Security must be enabled" in report.reason
    assert ScanHostReports(redis_client).get("run-7", "user-service") == report
    [warning] = [e for e in logs if e["event"] == "scan not reported to the git host"]
    assert warning["log_level"] == "warning" and "HTTP 403" in warning["reason"]
    assert TOKEN not in repr(logs) and TOKEN not in report.model_dump_json()
    assert github.host.violations == []


def test_a_host_that_is_down_is_recorded_as_the_reason(
    redis_client: redis.Redis, scan: ScanPassed
) -> None:
    host = GitHost(type="github", api_url="http://127.0.0.1:9", token=TOKEN)

    report = reporter(redis_client, host).report(scan)

    assert report is not None and report.state == "failed"
    assert report.reason and report.reason.startswith("TransientError: GitHub POST ")


def test_a_repository_without_a_host_tells_no_host(
    redis_client: redis.Redis, scan: ScanPassed
) -> None:
    repo = Repository(name="acme/shop", url="file:///x", webhook_secret="x" * 20)

    assert HostScanReports([repo], ScanHostReports(redis_client)).report(scan) is None
    assert ScanHostReports(redis_client).get("run-7", "user-service") is None


def test_gitlab_gets_a_commit_status_linking_the_run(gitlab, redis_client, scan) -> None:
    host = GitHost(
        type="gitlab",
        api_url=gitlab.api_url,
        token=TOKEN,
        project="acme/platform/shop",
        shipline_url="https://shipline.acme.dev",
    )

    report = reporter(redis_client, host).report(scan)

    [status] = gitlab.statuses.statuses[COMMIT]
    assert status["state"] == "success" and status["name"] == "shipline/scan/user-service"
    assert status["target_url"] == "https://shipline.acme.dev/#/runs/run-7"
    assert status["ref"] == "main"
    assert gitlab.host.operations() == [
        ("POST", f"/api/v4/projects/acme%2Fplatform%2Fshop/statuses/{COMMIT}")
    ]
    assert gitlab.host.exchanges[0].headers["private-token"] == TOKEN
    assert report is not None and report.state == "status_set" and report.kind == "commit_status"
    assert report.target_url == status["target_url"]


def test_gitea_gets_a_commit_status_linking_the_run(gitea, redis_client, scan) -> None:
    host = GitHost(
        type="gitea", api_url=gitea.api_url, token=TOKEN, shipline_url="https://shipline.acme.dev/"
    )

    report = reporter(redis_client, host).report(scan)

    [status] = gitea.statuses.statuses[COMMIT]
    assert status == {
        "state": "success",
        "context": "shipline/scan/user-service",
        "description": "passed, no findings",
        "target_url": "https://shipline.acme.dev/#/runs/run-7",
    }
    assert gitea.host.operations() == [("POST", f"/api/v1/repos/acme/shop/statuses/{COMMIT}")]
    assert gitea.host.exchanges[0].headers["authorization"] == f"token {TOKEN}"
    assert report is not None and report.state == "status_set"


def test_an_upload_the_description_does_not_allow_is_reported(github: FakeGitHub) -> None:
    body = {"commit_sha": COMMIT, "ref": "main", "sarif": "H4sI", "category": "user-service"}
    httpx.post(f"{github.host.url}/repos/acme/shop/code-scanning/sarifs", json=body)

    [problem] = github.host.violations
    assert "'main' does not match" in problem and "'category' was unexpected" in problem

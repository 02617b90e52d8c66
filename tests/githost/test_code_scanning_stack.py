# ruff: noqa: F811 (the fixtures imported from tests/githost/hosted_stack.py)
"""Code scanning through the running stack: a push to a repository whose `host:` is a loopback
GitHub checked against GitHub's published OpenAPI description. The scan's SARIF reaches
code scanning for the pushed commit and the scan API says so, then what GitHub made of it
(the scanner's follow-up asks GitHub); GitHub refusing the upload leaves the deploy as it
was and the scan API says why."""

from __future__ import annotations

from tests.githost.conftest import TOKEN
from tests.githost.fake_github import FakeGitHub
from tests.githost.hosted_stack import (  # noqa: F401 (fixtures)
    github_description,
    github_host,
    hosted_stack,
)
from tests.githost.loopback import Reply
from tests.stack import Stack
from tests.workers import wait_until


def scan_of(stack: Stack, run_id: str, service: str, **params: str) -> dict:
    response = stack.get(f"/api/v1/runs/{run_id}/services/{service}/scan", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def host_report_of(stack: Stack, run_id: str, service: str) -> dict:
    """The scan's host report once the scanner told the host: it does so after publishing
    its decision (services/common/after_publish.py), so maybe a moment after the run."""
    found: dict = {}

    def told() -> bool:
        found.update(scan_of(stack, run_id, service).get("host_report") or {})
        return found.get("state") not in (None, "sending")

    wait_until(told, 30, f"the host report of {service}'s scan")
    return found


def test_a_pushed_commits_scan_reaches_github_code_scanning_and_the_scan_api_says_so(
    hosted_stack: Stack, github_host: FakeGitHub
) -> None:
    push = hosted_stack.sample.append("user_service/app.txt", "Scanned.", "feat(user): scanned")

    run = hosted_stack.deploy(push)
    on_host = host_report_of(hosted_stack, run["run_id"], "user-service")

    [upload] = github_host.code_scanning.uploads
    assert (upload.owner_repo, upload.commit_sha, upload.ref) == (
        hosted_stack.sample.name,
        push.after,
        "refs/heads/main",
    )
    [analysis] = upload.sarif["runs"]
    assert analysis.pop("automationDetails") == {"id": f"shipline/user-service/{run['run_id']}"}
    kept = scan_of(hosted_stack, run["run_id"], "user-service", format="sarif")
    assert {**upload.sarif, "runs": [analysis]} == kept
    assert github_host.host.violations == []
    assert on_host["state"] == "uploaded" and on_host["host"] == "github"
    assert on_host["commit"] == push.after and on_host["category"] == "shipline/user-service/"
    assert on_host["sarif_id"] and on_host["status_url"].endswith(on_host["sarif_id"])

    def processed() -> bool:
        on_host.update(scan_of(hosted_stack, run["run_id"], "user-service")["host_report"])
        return on_host["processing_status"] != "pending"

    wait_until(processed, 120, "GitHub's processing status read by the scanner's follow-up")
    assert on_host["processing_status"] == "complete" and on_host["checked_at"]
    assert on_host["analyses_url"].endswith(f"analyses?sarif_id={on_host['sarif_id']}")
    status_path = f"/repos/{hosted_stack.sample.name}/code-scanning/sarifs/{on_host['sarif_id']}"
    assert ("GET", status_path) in github_host.host.operations()
    assert github_host.host.violations == []


def test_github_refusing_the_upload_does_not_hold_the_deploy_and_the_scan_says_why(
    hosted_stack: Stack, github_host: FakeGitHub
) -> None:
    refusal = {
        "message": "Advanced Security must be enabled for this repository to use code scanning."
    }
    github_host.host.scripted.append(Reply(403, refusal))
    uploads = len(github_host.code_scanning.uploads)
    push = hosted_stack.sample.append("user_service/app.txt", "Refused.", "feat(user): refused")

    run = hosted_stack.deploy(push)  # succeeded: the image is deployed all the same

    assert run["services"]["user-service"]["status"] == "succeeded"
    on_host = host_report_of(hosted_stack, run["run_id"], "user-service")
    assert len(github_host.code_scanning.uploads) == uploads
    assert on_host["state"] == "failed"
    assert "HTTP 403: Advanced Security must be enabled" in on_host["reason"]
    assert TOKEN not in hosted_stack.log_path.read_text(errors="replace")

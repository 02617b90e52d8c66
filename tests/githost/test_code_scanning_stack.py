"""Code scanning through the running stack: a push to a repository whose `host:` is a loopback
GitHub checked against GitHub's published OpenAPI description. The scan's SARIF reaches
code scanning for the pushed commit and the scan API says so; GitHub refusing the upload
leaves the deploy as it was and the scan API says why."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from services.demo.receiver import NotificationReceiver
from services.demo.scenario import SampleMonorepo
from services.devenv.registry import Registry
from tests.githost.conftest import TOKEN
from tests.githost.described import Description
from tests.githost.fake_github import FakeGitHub
from tests.githost.loopback import Reply
from tests.stack import WEBHOOK_SECRET, Stack, stack_up


@pytest.fixture(scope="module")
def github_host(github_description: Description) -> Iterator[FakeGitHub]:
    fake = FakeGitHub(github_description).start()
    yield fake
    fake.host.stop()


@pytest.fixture(scope="module")
def host_stack(
    tmp_path_factory: pytest.TempPathFactory,
    redis_url: str,
    docker_host: str,
    registry: Registry,
    base_image: str,
    trivy_path: Path,
    github_host: FakeGitHub,
) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("e2e-code-scanning")
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    sample = SampleMonorepo(root)
    sample.create(f"{registry.host}/microbank", base_image)
    host = {"type": "github", "api_url": github_host.host.url, "token": TOKEN}
    repositories = [
        {"name": sample.name, "url": sample.url, "webhook_secret": WEBHOOK_SECRET, "host": host}
    ]
    with NotificationReceiver() as receiver:
        try:
            with stack_up(
                root, sample, registry, receiver, client, docker_host, trivy_path,
                redis_url=redis_url, repositories=repositories,
            ) as stack:  # fmt: skip
                yield stack
        finally:
            client.close()


def scan_of(stack: Stack, run_id: str, service: str, **params: str) -> dict:
    response = stack.get(f"/api/v1/runs/{run_id}/services/{service}/scan", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_pushed_commits_scan_reaches_github_code_scanning_and_the_scan_api_says_so(
    host_stack: Stack, github_host: FakeGitHub
) -> None:
    push = host_stack.sample.append("user_service/app.txt", "Scanned.", "feat(user): scanned")

    run = host_stack.deploy(push)

    [upload] = github_host.code_scanning.uploads
    assert (upload.owner_repo, upload.commit_sha, upload.ref) == (
        host_stack.sample.name,
        push.after,
        "refs/heads/main",
    )
    [analysis] = upload.sarif["runs"]
    assert analysis.pop("automationDetails") == {"id": f"shipline/user-service/{run['run_id']}"}
    kept = scan_of(host_stack, run["run_id"], "user-service", format="sarif")
    assert {**upload.sarif, "runs": [analysis]} == kept
    assert github_host.host.violations == []
    on_host = scan_of(host_stack, run["run_id"], "user-service")["host_report"]
    assert on_host["state"] == "uploaded" and on_host["host"] == "github"
    assert on_host["commit"] == push.after and on_host["category"] == "shipline/user-service/"
    assert on_host["sarif_id"] and on_host["status_url"].endswith(on_host["sarif_id"])


def test_github_refusing_the_upload_does_not_hold_the_deploy_and_the_scan_says_why(
    host_stack: Stack, github_host: FakeGitHub
) -> None:
    refusal = {
        "message": "Advanced Security must be enabled for this repository to use code scanning."
    }
    github_host.host.scripted.append(Reply(403, refusal))
    uploads = len(github_host.code_scanning.uploads)
    push = host_stack.sample.append("user_service/app.txt", "Refused.", "feat(user): refused")

    run = host_stack.deploy(push)  # succeeded: the image is deployed all the same

    assert run["services"]["user-service"]["status"] == "succeeded"
    assert len(github_host.code_scanning.uploads) == uploads
    on_host = scan_of(host_stack, run["run_id"], "user-service")["host_report"]
    assert on_host["state"] == "failed"
    assert "HTTP 403: Advanced Security must be enabled" in on_host["reason"]
    assert TOKEN not in host_stack.log_path.read_text(errors="replace")

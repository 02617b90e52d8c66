"""The scanner stage reporting to GitHub code scanning: a real image scanned by real Trivy,
its repository's `host:` a loopback GitHub checked against GitHub's published OpenAPI
description. The SARIF uploaded is the one the scanner kept, in the service's category,
once however often the scan is delivered; a host that refuses leaves the scan's outcome
as it was."""

from __future__ import annotations

import json
from pathlib import Path

import docker
import pytest
import redis

from services.common.events import ScanFailed, ScanPassed
from services.common.repository_settings import GitHost
from services.common.runtime import Runtime
from services.common.scan_host_reports import ScanHostReports
from services.common.scan_verdicts import ScanVerdicts
from services.devenv.registry import Registry
from services.scanner.task import make_handler
from tests.githost.conftest import TOKEN
from tests.githost.fake_github import FakeGitHub
from tests.githost.loopback import Reply
from tests.scanner.images import Pushed, build_and_push, private_key_pem
from tests.scanner.stage import REPO, SHIPLINE_YAML, Monorepo, scanner_runtime


@pytest.fixture(scope="module")
def keyed_image(docker_client: docker.DockerClient, registry: Registry, base_image: str) -> Pushed:
    files = {"ca.key": private_key_pem(), "app.txt": "hello\n"}
    return build_and_push(docker_client, registry, "microbank/account-service", base_image, files)


@pytest.fixture
def monorepo(tmp_path: Path) -> Monorepo:
    return Monorepo(tmp_path / "git")


@pytest.fixture
def runtime(
    redis_url: str,
    redis_client: redis.Redis,
    tmp_path: Path,
    trivy_path: Path,
    github: FakeGitHub,
    monorepo: Monorepo,
) -> Runtime:
    host = GitHost(type="github", api_url=github.host.url, token=TOKEN)
    repository = monorepo.repository(host=host)
    return scanner_runtime(redis_url, tmp_path / "workdir", trivy_path, repository)


def test_a_scan_uploads_the_sarif_it_kept_to_github_once_however_often_it_is_delivered(
    runtime: Runtime, monorepo: Monorepo, github: FakeGitHub, keyed_image: Pushed
) -> None:
    commit = monorepo.commit(SHIPLINE_YAML.format(account_scan=""))
    image = keyed_image.event(service="account-service", commit=commit)

    [first] = make_handler(runtime)(image)
    [again] = make_handler(runtime)(image)  # the bus redelivers it, to another worker

    assert isinstance(first, ScanFailed) and isinstance(again, ScanFailed)
    [upload] = github.code_scanning.uploads
    kept = json.loads(Path(first.sarif_location).read_text())
    [run] = upload.sarif["runs"]
    assert run.pop("automationDetails") == {"id": "shipline/account-service/run-1"}
    assert {**upload.sarif, "runs": [run]} == kept
    assert [r["ruleId"] for r in run["results"]] == ["private-key"]
    assert (upload.owner_repo, upload.commit_sha, upload.ref) == (REPO, commit, "refs/heads/main")
    assert github.host.violations == []
    report = ScanHostReports(runtime.redis).get("run-1", "account-service")
    assert report is not None and report.state == "uploaded" and report.sarif_id


def test_github_refusing_the_upload_leaves_the_scan_passed_and_says_why(
    runtime: Runtime, monorepo: Monorepo, github: FakeGitHub, keyed_image: Pushed
) -> None:
    allowed = (
        "    scan:\n      allowlist:\n"
        "        - {id: private-key, reason: test CA, expires: 2099-01-01, path: app/ca.key}\n"
    )
    commit = monorepo.commit(SHIPLINE_YAML.format(account_scan=allowed))
    refusal = {"message": "Code scanning is not enabled for this repository"}
    github.host.scripted.append(Reply(403, refusal))

    [outcome] = make_handler(runtime)(keyed_image.event(service="account-service", commit=commit))

    assert isinstance(outcome, ScanPassed)
    verdict = ScanVerdicts(runtime.redis).get(keyed_image.repository, keyed_image.digest)
    assert verdict is not None and verdict.outcome == "passed"
    report = ScanHostReports(runtime.redis).get("run-1", "account-service")
    assert report is not None and report.state == "failed" and report.reason
    assert "HTTP 403: Code scanning is not enabled" in report.reason
    assert github.code_scanning.uploads == []
    assert github.host.operations() == [("POST", "/repos/acme/microbank/code-scanning/sarifs")]

"""The scanner stage's handler on real images, Trivy, Redis and a git remote holding the
monorepo's shipline.yaml: per-service policy, reports kept, and the emergency bypass."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import docker
import pytest
import redis

from services.common.errors import ConfigError, PermanentError
from services.common.events import Envelope, ScanBypass, ScanFailed, ScanPassed
from services.common.runtime import Runtime
from services.common.scan_verdicts import ScanVerdicts
from services.devenv.registry import Registry
from services.scanner.task import make_handler
from tests.scanner.images import Pushed, build_and_push, private_key_pem
from tests.scanner.stage import REPO, SHIPLINE_YAML, Monorepo, scanner_runtime

NEXT_MONTH = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()
LAST_WEEK = (datetime.now(UTC) - timedelta(days=7)).date().isoformat()


@pytest.fixture
def monorepo(tmp_path: Path) -> Monorepo:
    return Monorepo(tmp_path / "git")


@pytest.fixture
def runtime(
    redis_url: str, redis_client: redis.Redis, tmp_path: Path, trivy_path: Path, monorepo: Monorepo
) -> Runtime:
    return scanner_runtime(redis_url, tmp_path / "workdir", trivy_path, monorepo.repository())


@pytest.fixture(scope="module")
def key_material() -> str:
    return private_key_pem()


@pytest.fixture(scope="module")
def keyed_image(
    docker_client: docker.DockerClient, registry: Registry, base_image: str, key_material: str
) -> Pushed:
    files = {"ca.key": key_material, "app.txt": "hello\n"}
    return build_and_push(docker_client, registry, "microbank/account-service", base_image, files)


def scan(runtime: Runtime, image: Pushed, commit: str, **event: object) -> Envelope:
    [outcome] = make_handler(runtime)(
        image.event(service="account-service", commit=commit, **event)  # type: ignore[arg-type]
    )
    return outcome


def allow_key(expires: str) -> str:
    return (
        "    scan:\n"
        "      allowlist:\n"
        f"        - {{id: private-key, reason: CA of the mTLS test suite, expires: {expires},\n"
        "           path: app/ca.key}\n"
    )


def test_an_image_with_a_private_key_is_blocked_and_both_reports_are_kept(
    runtime: Runtime, monorepo: Monorepo, keyed_image: Pushed, key_material: str
) -> None:
    commit = monorepo.commit(SHIPLINE_YAML.format(account_scan=""))

    outcome = scan(runtime, keyed_image, commit)

    assert isinstance(outcome, ScanFailed)
    assert [(f.id, f.target) for f in outcome.findings] == [("private-key", "/app/ca.key:1")]
    recorded = ScanVerdicts(runtime.redis).get(keyed_image.repository, keyed_image.digest)
    assert recorded is not None and (recorded.outcome, recorded.service) == (
        "failed",
        "account-service",
    )
    report = Path(outcome.report_location)
    sarif = Path(outcome.sarif_location)
    assert report == runtime.settings.workdir / "reports" / "run-1" / "account-service.trivy.json"
    assert json.loads(report.read_text())["ArtifactName"] == keyed_image.by_digest
    [sarif_result] = json.loads(sarif.read_text())["runs"][0]["results"]
    assert sarif_result["ruleId"] == "private-key"
    for kept in (report.read_text(), sarif.read_text()):
        assert not [line for line in key_material.splitlines()[1:-1] if line in kept]


def test_a_service_allowlist_entry_in_shipline_yaml_lets_the_key_through_and_says_so(
    runtime: Runtime, monorepo: Monorepo, keyed_image: Pushed
) -> None:
    commit = monorepo.commit(SHIPLINE_YAML.format(account_scan=allow_key(NEXT_MONTH)))

    outcome = scan(runtime, keyed_image, commit)

    assert isinstance(outcome, ScanPassed)
    recorded = ScanVerdicts(runtime.redis).get(keyed_image.repository, keyed_image.digest)
    assert recorded is not None and (recorded.outcome, recorded.run_id) == ("passed", "run-1")
    [accepted] = outcome.suppressed
    assert accepted.id == "private-key" and accepted.allowance is not None
    assert accepted.allowance.origin == "shipline.yaml services.account-service.scan.allowlist"
    assert "shipline.yaml services.account-service.scan" in outcome.policy


def test_the_same_entry_once_expired_blocks_the_image_again(
    runtime: Runtime, monorepo: Monorepo, keyed_image: Pushed
) -> None:
    commit = monorepo.commit(SHIPLINE_YAML.format(account_scan=allow_key(LAST_WEEK)))

    outcome = scan(runtime, keyed_image, commit)

    assert isinstance(outcome, ScanFailed)
    assert f"allowlist entry expired {LAST_WEEK}" in outcome.explain()


def test_a_bad_scan_block_fails_the_scan_naming_the_file_and_the_key(
    runtime: Runtime, monorepo: Monorepo, keyed_image: Pushed
) -> None:
    bad = "    scan:\n      allowlist: [{id: private-key, reason: later}]\n"
    commit = monorepo.commit(SHIPLINE_YAML.format(account_scan=bad))

    with pytest.raises(ConfigError) as caught:
        scan(runtime, keyed_image, commit)

    assert str(caught.value).startswith(
        f"{REPO}@{commit[:7]}:shipline.yaml: services.account-service.scan.allowlist.0.expires"
    )


def test_a_manual_deployment_that_asks_to_skip_the_scan_passes_unscanned(
    runtime: Runtime, monorepo: Monorepo, registry: Registry
) -> None:
    runtime.runs.create("run-1", trigger="manual")
    never_pushed = Pushed(
        f"{registry.host}/microbank/account-service", "sha-0000000", "sha256:" + "0" * 64
    )
    skip = ScanBypass(by="dana@acme.dev", reason="INC-4211: scanner DB outage, hotfix")

    outcome = scan(runtime, never_pushed, "0" * 40, skip_scan=skip)

    assert isinstance(outcome, ScanPassed)  # not even the image or shipline.yaml was read
    assert outcome.skipped == skip
    assert outcome.report_location == ""
    recorded = ScanVerdicts(runtime.redis).get(never_pushed.repository, never_pushed.digest)
    assert recorded is not None and recorded.outcome == "skipped"
    assert (recorded.skipped_by, recorded.skip_reason) == (skip.by, skip.reason)


def test_a_pushed_run_cannot_skip_the_scan(
    runtime: Runtime, monorepo: Monorepo, keyed_image: Pushed
) -> None:
    runtime.runs.create("run-1", trigger="push")
    skip = ScanBypass(by="mallory", reason="trust me")

    with pytest.raises(PermanentError, match="manual deployments only"):
        scan(runtime, keyed_image, "0" * 40, skip_scan=skip)

"""A promotion into an environment with its own scan policy (shipline.yaml
`environments[].scan`): the image staging runs is judged again under production's policy
before it is written, on real Trivy, a real image holding a private key in a real registry,
real git repositories and Redis. Staging allows secrets for the service; production does not."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker
import pytest
import redis
import yaml

from services.committer.admission import Admission
from services.committer.promote import promote, registry_admission
from services.committer.rescan import Rescan
from services.committer.writeback import GitopsWriter
from services.common.environment_scan_verdicts import EnvironmentVerdicts
from services.common.events import ManifestCommitted, PromotionRequested, ScanFailed, ScanPassed
from services.common.runs import RunStore
from services.common.runtime import Runtime
from services.common.scan_verdicts import ScanVerdicts
from services.common.settings import ScannerSettings, Settings
from services.devenv.registry import Registry
from services.scanner.task import make_handler
from services.scanner.trivy import Trivy
from tests.committer.gitrepos import Repo, deployment, promotion, settings_for
from tests.scanner.images import Pushed, build_and_push, private_key_pem

STAGING_MANIFEST, PRODUCTION_MANIFEST = "k8s/staging/cart.yaml", "k8s/production/cart.yaml"


def shop(root: Path, registry: Registry, production_scan: dict[str, Any] | None) -> Repo:
    """cart allows secrets (its own `scan:`); production adds `production_scan` on top."""
    production: dict[str, Any] = {"name": "production", "from": "staging"}
    if production_scan is not None:
        production["scan"] = production_scan
    config = {
        "registry": f"{registry.host}/shop",
        "environments": [{"name": "staging"}, production],
        "services": {
            "cart": {
                "path": "cart/",
                "manifest": "k8s/{environment}/cart.yaml",
                "scan": {"allow_secrets": True},
            }
        },
    }
    repo = Repo(root, "acme/shop")
    initial = deployment("cart", f"{registry.host}/shop/cart:initial")
    repo.commit(
        {
            "shipline.yaml": yaml.safe_dump(config, sort_keys=False),
            "cart/app.txt": "cart\n",
            STAGING_MANIFEST: initial,
            PRODUCTION_MANIFEST: initial,
        },
        "initial",
    )
    return repo


@pytest.fixture(scope="module")
def keyed_cart(docker_client: docker.DockerClient, registry: Registry, base_image: str) -> Pushed:
    files = {"deploy.key": private_key_pem(), "app.txt": "cart\n"}
    return build_and_push(docker_client, registry, "shop/cart", base_image, files)


def scanning_settings(workdir: Path, repo: Repo, redis_url: str, trivy_path: Path) -> Settings:
    scanner = ScannerSettings(trivy_path=str(trivy_path), timeout_seconds=120)
    return settings_for(workdir, repo, redis_url=redis_url, scanner=scanner)


def staged(repo: Repo, image: Pushed, scanning: Settings, client: redis.Redis) -> ScanPassed:
    """cart pushed, scanned by the scanner stage (real Trivy, its report kept in the
    scanner's workdir) and deployed to staging."""
    commit = repo.commit({"cart/app.txt": f"cart {uuid.uuid4()}\n"}, "feat: cart")
    pushed = image.event(service="cart", run_id="run-push", commit=commit, repository=repo.name)
    [outcome] = make_handler(Runtime(scanning))(pushed)
    assert isinstance(outcome, ScanPassed), outcome  # cart's own policy allows the key
    committed = GitopsWriter.connect(scanning, client).deploy(outcome)
    assert isinstance(committed, ManifestCommitted)
    return outcome


Staging = Callable[..., tuple[Repo, ScanPassed, Settings]]


@pytest.fixture
def staged_shop(
    tmp_path: Path,
    registry: Registry,
    keyed_cart: Pushed,
    trivy_path: Path,
    redis_url: str,
    redis_client: redis.Redis,
) -> Staging:
    """The shop under production's `production_scan`, the keyed cart scanned by the scanner
    stage and deployed to staging: the repository, the scan, and the committer's settings:
    the scanner's (its report at hand) or, `report_at_hand` False, another disk's."""

    def stage(
        production_scan: dict[str, Any], report_at_hand: bool = True
    ) -> tuple[Repo, ScanPassed, Settings]:
        repo = shop(tmp_path / "remotes", registry, production_scan)
        scanning = scanning_settings(tmp_path / "scanner", repo, redis_url, trivy_path)
        scan = staged(repo, keyed_cart, scanning, redis_client)
        if report_at_hand:
            return repo, scan, scanning
        return repo, scan, scanning_settings(tmp_path / "committer", repo, redis_url, trivy_path)

    return stage


class Promoter:
    """The committer's promotion, its admission judging under the target's policy; counts
    the Trivy runs it makes (none while the scanner's report is at hand)."""

    def __init__(self, committing: Settings, client: redis.Redis) -> None:
        self.trivy_runs = 0
        self.judged = EnvironmentVerdicts(client)
        rescan = Rescan.connect(committing, ScanVerdicts(client), self.judged)

        def counted() -> Trivy:
            self.trivy_runs += 1
            return rescan.trivy()

        self.rescan = Rescan(rescan.settings, rescan.verdicts, self.judged, rescan.reports, counted)
        self.settings, self.writer = committing, GitopsWriter.connect(committing, client)
        self.admission = Admission(committing, ScanVerdicts(client), self.rescan)

    def promote(self, request: PromotionRequested) -> list[Any]:
        admission = self.admission
        admit = registry_admission(self.settings, admission, request)
        return promote(request, self.writer.targets, self.writer.commits, admit)


BLOCKS_SECRETS = {"allow_secrets": False}


def test_production_s_policy_blocks_the_key_staging_allowed_judged_on_the_kept_report(
    staged_shop: Staging, keyed_cart: Pushed, redis_client: redis.Redis
) -> None:
    repo, _, shared = staged_shop(BLOCKS_SECRETS)  # scanner and committer on one disk
    commits, production = len(repo.log()), repo.read(PRODUCTION_MANIFEST)
    runs = RunStore(redis_client)
    runs.create("run-promote", trigger="promotion", repository=repo.name, environment="production")
    runs.plan("run-promote", ["cart"])
    promoter = Promoter(shared, redis_client)

    [event] = promoter.promote(promotion("run-promote"))

    assert isinstance(event, ScanFailed) and event.service == "cart"
    assert [f.id for f in event.findings] == ["private-key"]
    assert event.policy.startswith("environment production: any secret blocks")
    assert promoter.trivy_runs == 0  # re-decided on the report the scanner kept
    assert len(repo.log()) == commits and repo.read(PRODUCTION_MANIFEST) == production
    runs.apply(event)
    record = runs.get("run-promote").services["cart"]  # type: ignore[union-attr]
    assert record.status == "blocked"
    assert "private-key" in (record.reason or "") and "secret" in (record.reason or "")
    judged = promoter.judged.get("production", keyed_cart.repository, keyed_cart.digest)
    assert judged is not None and judged.verdict.outcome == "failed"
    assert judged.verdict.policy.startswith("environment production:")
    scanner = ScanVerdicts(redis_client).get(keyed_cart.repository, keyed_cart.digest)
    assert scanner is not None and scanner.outcome == "passed"  # staging's stands
    [again] = promoter.promote(promotion("run-again"))  # the kept outcome, for this run
    assert isinstance(again, ScanFailed) and promoter.trivy_runs == 0
    assert again.run_id == "run-again" and again.event_id != event.event_id


def test_without_the_scanner_s_report_at_hand_the_committer_runs_trivy_and_is_blocked(
    staged_shop: Staging, redis_client: redis.Redis
) -> None:
    repo, _, committing = staged_shop(BLOCKS_SECRETS, report_at_hand=False)
    production = repo.read(PRODUCTION_MANIFEST)
    promoter = Promoter(committing, redis_client)

    [event] = promoter.promote(promotion("run-promote"))

    assert isinstance(event, ScanFailed) and [f.id for f in event.findings] == ["private-key"]
    assert promoter.trivy_runs == 1
    assert repo.read(PRODUCTION_MANIFEST) == production
    kept = committing.workdir / "reports" / "run-promote" / "cart.trivy.json"
    assert kept.is_file() and event.report_location == str(kept)


def test_under_the_same_policy_the_scanner_s_verdict_carries_over_with_no_new_scan(
    staged_shop: Staging, keyed_cart: Pushed, redis_client: redis.Redis
) -> None:
    repo, scan, shared = staged_shop({"allow_secrets": True})  # as cart's own
    promoter = Promoter(shared, redis_client)

    [event] = promoter.promote(promotion("run-promote"))

    assert isinstance(event, ManifestCommitted) and event.digest == keyed_cart.digest
    assert f"cart:{scan.tags[0]}" in repo.read(PRODUCTION_MANIFEST)
    assert promoter.trivy_runs == 0
    assert promoter.judged.get("production", keyed_cart.repository, keyed_cart.digest) is None
    assert not (shared.workdir / "reports" / "run-promote").exists()

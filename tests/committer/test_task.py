"""The committer's handler: what each event leads to, on a real Redis and repository."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from services.committer.task import STAGE
from services.common.errors import PermanentError
from services.common.events import (
    ChangeDetected,
    ManifestCommitted,
    ReleaseImage,
    ReleaseReady,
    ScanBypass,
    Source,
)
from services.common.runtime import Runtime
from services.common.scan_verdicts import ScanVerdict, ScanVerdicts
from services.common.service_inventory import InventoryStore
from services.detector.deployed import DeployedCache
from tests.committer.gitrepos import (
    DIGEST,
    REGISTRY,
    Repo,
    monorepo,
    scan_passed,
    scanned,
    settings_for,
)
from tests.gitops_reads import trailer_reads


@pytest.fixture
def shop(tmp_path: Path) -> Repo:
    return monorepo(tmp_path / "remotes", ["cart"])


@pytest.fixture
def runtime(shop: Repo, tmp_path: Path, redis_url: str, redis_client: redis.Redis) -> Runtime:
    return Runtime(settings_for(tmp_path / "w", shop, redis_url=redis_url))


def test_the_committer_consumes_scans_releases_rollbacks_failed_rollouts_unpins_promotions_pulls():
    names = {kind.__name__ for kind in STAGE.consumes}
    assert names == {
        "ScanPassed",
        "ReleaseReady",
        "RollbackRequested",
        "DeploymentFailed",
        "UnpinRequested",
        "PromotionRequested",
        "PullRequestClosed",
    }


def test_a_scan_of_a_push_run_is_committed(shop: Repo, runtime: Runtime) -> None:
    handle = STAGE.factory(runtime)

    [outcome] = handle(
        scanned(runtime.redis, scan_passed(shop, "cart", shop.log()[0].hexsha, "run-1"))
    )

    assert isinstance(outcome, ManifestCommitted)


def test_a_commit_records_the_new_image_in_the_service_inventory(
    shop: Repo, runtime: Runtime
) -> None:
    scan = scan_passed(shop, "cart", shop.log()[0].hexsha, "run-1")

    [outcome] = STAGE.factory(runtime)(scanned(runtime.redis, scan))

    survey = InventoryStore(runtime.redis).read("acme/shop")
    assert survey is not None and survey.error is None
    row = survey.row("cart")
    assert row is not None and row.image == outcome.new_image  # type: ignore[attr-defined]
    assert row.gitops_commit == outcome.gitops_commit  # type: ignore[attr-defined]


def test_the_survey_after_a_commit_reads_only_that_commits_trailers_and_caches_them(
    shop: Repo, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = shop.log()[0].hexsha
    handle = STAGE.factory(runtime)
    [deployed] = handle(scanned(runtime.redis, scan_passed(shop, "cart", first, "run-1")))
    assert isinstance(deployed, ManifestCommitted)
    reads = trailer_reads(monkeypatch)
    second = shop.commit({"cart/app.txt": "cart 2\n"}, "feat(cart): two")

    [outcome] = handle(scanned(runtime.redis, scan_passed(shop, "cart", second, "run-2")))

    assert isinstance(outcome, ManifestCommitted)
    assert reads == [deployed.gitops_commit]  # the survey read onwards from the first deploy
    cached = DeployedCache(runtime.redis, keys=runtime.keyspace).get("acme/shop", "main")
    assert cached is not None and cached.head == outcome.gitops_commit
    assert cached.commit_of("acme/shop", "cart") == second


def test_a_scan_the_scanner_never_recorded_is_not_deployed(shop: Repo, runtime: Runtime) -> None:
    before = len(shop.log())

    with pytest.raises(PermanentError, match="recorded no verdict"):
        STAGE.factory(runtime)(scan_passed(shop, "cart", shop.log()[0].hexsha, "run-1"))

    assert len(shop.log()) == before


def test_an_image_of_another_repository_is_not_deployed_even_with_a_recorded_pass(
    shop: Repo, runtime: Runtime
) -> None:
    scan = scan_passed(shop, "cart", shop.log()[0].hexsha, "run-1").model_copy(
        update={"image_repository": "evil.example.com/backdoor"}
    )
    scanned(runtime.redis, scan)
    before = len(shop.log())

    with pytest.raises(PermanentError, match=f"its repository is {REGISTRY}/cart"):
        STAGE.factory(runtime)(scan)

    assert len(shop.log()) == before


def test_an_image_whose_newest_scan_failed_is_not_deployed(shop: Repo, runtime: Runtime) -> None:
    scan = scanned(runtime.redis, scan_passed(shop, "cart", shop.log()[0].hexsha, "run-1"))
    failed = ScanVerdict.of(scan).model_copy(update={"outcome": "failed", "run_id": "run-2"})
    ScanVerdicts(runtime.redis).record(failed)

    with pytest.raises(PermanentError, match="the scanner blocked"):
        STAGE.factory(runtime)(scan)


def test_a_scan_skip_recorded_with_who_and_why_is_deployed(shop: Repo, runtime: Runtime) -> None:
    skip = ScanBypass(by="api-token-1", reason="INC-7: hotfix")
    scan = scan_passed(shop, "cart", shop.log()[0].hexsha, "run-1").model_copy(
        update={"skipped": skip}
    )
    scanned(runtime.redis, scan)

    [outcome] = STAGE.factory(runtime)(scan)

    assert isinstance(outcome, ManifestCommitted)


def test_a_release_with_an_unscanned_image_commits_nothing(shop: Repo, runtime: Runtime) -> None:
    commit = shop.log()[0].hexsha
    ready = ReleaseReady(
        run_id="run-rel",
        source=Source(repository=shop.name, commit=commit, ref="refs/tags/v1.0.0"),
        version="v1.0.0",
        images={
            "cart": ReleaseImage(image_repository=f"{REGISTRY}/cart", tag="v1.0.0", digest=DIGEST)
        },
    )
    before = len(shop.log())

    with pytest.raises(PermanentError, match="recorded no verdict"):
        STAGE.factory(runtime)(ready)

    assert len(shop.log()) == before


def test_a_scan_of_a_release_run_waits_for_the_release(shop: Repo, runtime: Runtime) -> None:
    commit = shop.log()[0].hexsha
    scan = scan_passed(shop, "cart", commit, "run-rel", tag="v1.0.0")
    source = scan.source.model_copy(update={"ref": "refs/tags/v1.0.0"})
    runtime.runs.create("run-rel", trigger="tag")
    runtime.runs.apply(
        ChangeDetected(
            run_id="run-rel",
            service="cart",
            source=source,
            context="cart",
            dockerfile="Dockerfile",
            image_repository=f"{REGISTRY}/cart",
            tags=("v1.0.0",),
            reason="release",
        )
    )
    before = len(shop.log())

    assert STAGE.factory(runtime)(scan) == ()
    assert len(shop.log()) == before
    assert not isinstance(scan, ReleaseReady)


def test_a_deploy_names_its_passed_image_by_digest_and_a_skipped_scan_names_none(
    shop: Repo, runtime: Runtime
) -> None:
    commit = shop.log()[0].hexsha
    trailer = f"Shipline-Image: cart {REGISTRY}/cart@{DIGEST}"
    STAGE.factory(runtime)(scanned(runtime.redis, scan_passed(shop, "cart", commit, "run-1")))
    assert trailer in str(shop.log()[0].message).splitlines()

    skip = ScanBypass(by="api-token-1", reason="INC-7: hotfix")
    again = shop.commit({"cart/app.txt": "cart again\n"}, "feat: cart again")
    scan = scan_passed(shop, "cart", again, "run-2", tag="sha-skip")
    scanned(runtime.redis, scan.model_copy(update={"skipped": skip}))
    [outcome] = STAGE.factory(runtime)(scan)

    assert isinstance(outcome, ManifestCommitted)
    assert "Shipline-Image" not in str(shop.log()[0].message)


def test_a_release_names_each_passed_image_by_digest(shop: Repo, runtime: Runtime) -> None:
    commit = shop.log()[0].hexsha
    scanned(runtime.redis, scan_passed(shop, "cart", commit, "run-rel", tag="v1.0.0"))
    ready = ReleaseReady(
        run_id="run-rel",
        source=Source(repository=shop.name, commit=commit, ref="refs/tags/v1.0.0"),
        version="v1.0.0",
        images={
            "cart": ReleaseImage(image_repository=f"{REGISTRY}/cart", tag="v1.0.0", digest=DIGEST)
        },
    )

    STAGE.factory(runtime)(ready)

    message = str(shop.log()[0].message)
    assert message.startswith("release v1.0.0")
    assert f"Shipline-Image: cart {REGISTRY}/cart@{DIGEST}" in message.splitlines()

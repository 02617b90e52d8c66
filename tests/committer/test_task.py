"""The committer's handler: what each event leads to, on a real Redis and repository."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from services.committer.task import STAGE
from services.common.events import ChangeDetected, ManifestCommitted, ReleaseReady
from services.common.runtime import Runtime
from tests.committer.gitrepos import REGISTRY, Repo, monorepo, scan_passed, settings_for

pytestmark = pytest.mark.integration


@pytest.fixture
def shop(tmp_path: Path) -> Repo:
    return monorepo(tmp_path / "remotes", ["cart"])


@pytest.fixture
def runtime(shop: Repo, tmp_path: Path, redis_url: str, redis_client: redis.Redis) -> Runtime:
    return Runtime(settings_for(tmp_path / "w", shop, redis_url=redis_url))


def test_the_committer_consumes_scans_releases_rollbacks_and_failed_rollouts() -> None:
    names = {kind.__name__ for kind in STAGE.consumes}
    assert names == {"ScanPassed", "ReleaseReady", "RollbackRequested", "DeploymentFailed"}


def test_a_scan_of_a_push_run_is_committed(shop: Repo, runtime: Runtime) -> None:
    handle = STAGE.factory(runtime)

    [outcome] = handle(scan_passed(shop, "cart", shop.log()[0].hexsha, "run-1"))

    assert isinstance(outcome, ManifestCommitted)


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

"""Automatic rollback and automatic promotion find a rollout's environment by its gitops
repository and branch as well as its manifest path: staging on the source repository's
main and production in its own gitops repository, both writing k8s/cart.yaml, on real
repositories and Redis. A failed production rollout is rolled back in production only, and
production landing is never taken for staging landing (which would promote again)."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from services.committer.auto_rollback import roll_back
from services.committer.promote import promote
from services.committer.writeback import GitopsWriter
from services.common.auto_promotion import auto_promotions
from services.common.events import (
    DeploymentFailed,
    DeploymentVerified,
    ManifestCommitted,
)
from tests.committer.gitrepos import (
    PRODUCTION_GITOPS,
    REGISTRY,
    Repo,
    deployed_to_staging,
    own_gitops_settings,
    production_gitops,
    promotion,
    scan_passed,
    staging_and_production,
)

MANIFEST = "k8s/cart.yaml"  # the same path in both environments' repositories
IMAGE = f"{REGISTRY}/cart"


@pytest.fixture
def shop(tmp_path: Path) -> Repo:
    production = {"approval": "auto", "gitops": {"repository": PRODUCTION_GITOPS}}
    root = tmp_path / "remotes"
    return staging_and_production(
        root, ["cart"], production, ("staging",), MANIFEST, auto_rollback=True
    )


@pytest.fixture
def prod(tmp_path: Path) -> Repo:
    return production_gitops(tmp_path / "remotes", ["cart"], MANIFEST)


@pytest.fixture
def writer(shop: Repo, prod: Repo, tmp_path: Path, redis_client: redis.Redis) -> GitopsWriter:
    return GitopsWriter.connect(own_gitops_settings(tmp_path / "c", shop, prod), redis_client)


def deployed_and_promoted(shop: Repo, writer: GitopsWriter) -> tuple[str, ManifestCommitted]:
    """A new cart commit deployed to staging and promoted to production (the same image)."""
    commit = deployed_to_staging(shop, writer)
    [landed] = promote(promotion(), writer.targets, writer.commits)
    assert isinstance(landed, ManifestCommitted)
    return commit, landed


def failed(landed: ManifestCommitted) -> DeploymentFailed:
    """What the verifier publishes when production's rollout of `landed` fails."""
    return DeploymentFailed(
        run_id=landed.run_id,
        service=landed.service,
        source=landed.source,
        image=landed.new_image,
        old_image=landed.old_image,
        cluster="prod-eu",
        gitops_commit=landed.gitops_commit,
        gitops_repository=landed.gitops_repository,
        branch=landed.branch,
        manifest_path=landed.manifest_path,
        condition="CrashLoopBackOff",
        reason="cart crashes in production",
        auto_rollback=True,
    )


def test_a_failed_production_rollout_is_rolled_back_in_production_never_in_staging(
    shop: Repo, prod: Repo, writer: GitopsWriter
) -> None:
    first, _ = deployed_and_promoted(shop, writer)
    second, landed = deployed_and_promoted(shop, writer)
    assert (landed.gitops_repository, landed.branch) == (PRODUCTION_GITOPS, "main")
    shop_head, running = shop.log()[0].hexsha, f"{IMAGE}:sha-{second[:7]}"
    assert f"image: {running}   #" in shop.read(MANIFEST)  # staging runs the failed image too

    committed = roll_back(writer, failed(landed))

    restored = f"{IMAGE}:sha-{first[:7]}"
    assert (committed.old_image, committed.new_image) == (running, restored)
    assert (committed.gitops_repository, committed.branch) == (PRODUCTION_GITOPS, "main")
    assert committed.rollback_of.startswith(f"{running} failed in prod-eu")
    assert shop.log()[0].hexsha == shop_head  # staging's branch untouched
    assert f"image: {running}   #" in shop.read(MANIFEST)
    head = prod.log()[0]
    assert committed.gitops_commit == head.hexsha
    assert head.message.splitlines()[0].endswith("in production [skip ci]")
    assert f"image: {restored}   #" in prod.read(MANIFEST)


def test_a_failed_rollout_no_environment_writes_there_rolls_nothing_back(
    shop: Repo, prod: Repo, writer: GitopsWriter
) -> None:
    _, landed = deployed_and_promoted(shop, writer)
    deployed_and_promoted(shop, writer)
    elsewhere = landed.model_copy(update={"gitops_repository": "acme/other-gitops"})
    heads = shop.log()[0].hexsha, prod.log()[0].hexsha

    with pytest.raises(Exception, match="no environment"):
        roll_back(writer, failed(elsewhere))

    assert (shop.log()[0].hexsha, prod.log()[0].hexsha) == heads


def test_production_landing_asks_for_no_promotion_as_if_staging_had_landed(
    shop: Repo, prod: Repo, writer: GitopsWriter
) -> None:
    commit = shop.commit({"cart/app.txt": "cart v2\n"}, "feat: v2")
    in_staging = writer.deploy(scan_passed(shop, "cart", commit, "run-v2"))
    assert isinstance(in_staging, ManifestCommitted)
    project = writer.targets.find(shop.name, commit).project
    no_clusters = {"staging": None, "production": None}
    [asked] = auto_promotions(project, in_staging, no_clusters)
    assert asked.request.environment == "production"  # staging landed: production is next
    [in_production] = promote(asked.request, writer.targets, writer.commits)
    assert isinstance(in_production, ManifestCommitted)
    assert in_production.manifest_path == in_staging.manifest_path
    assert in_production.branch == in_staging.branch  # only the repository tells them apart

    assert auto_promotions(project, in_production, no_clusters) == []
    verified = DeploymentVerified(
        run_id=in_production.run_id,
        service="cart",
        source=in_production.source,
        image=in_production.new_image,
        cluster="shared",
        gitops_commit=in_production.gitops_commit,
        gitops_repository=PRODUCTION_GITOPS,
        branch="main",
        manifest_path=MANIFEST,
        seconds=1.0,
    )
    one_cluster = {"staging": "shared", "production": "shared"}
    assert auto_promotions(project, verified, one_cluster) == []
    from_staging = verified.model_copy(update={"gitops_repository": shop.name})
    [again] = auto_promotions(project, from_staging, one_cluster)
    assert again.request.environment == "production"

"""Promotion into an environment with its own `gitops:` (another repository, or another
branch of the same one): what staging runs, read on staging's branch, committed to
production's, on real repositories and Redis."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from services.committer.promote import promote
from services.committer.writeback import GitopsWriter
from services.common.cluster_settings import ClusterSettings
from services.common.events import ManifestCommitted
from tests.committer.gitrepos import (
    PRODUCTION_GITOPS,
    REGISTRY,
    Repo,
    deployed_to_staging,
    deployment,
    environment_manifest,
    own_gitops_settings,
    production_gitops,
    promotion,
    settings_for,
    staging_and_production,
)
from tests.committer.test_promote import a_redelivery_commits_nothing_more

SERVICES = ["cart", "search"]


def manifest(environment: str, service: str) -> str:
    return environment_manifest(service, environment)


def shop_repo(root: Path, production_gitops: dict[str, str]) -> Repo:
    """acme/shop: its services, staging's manifests on main, production's gitops elsewhere."""
    return staging_and_production(root, SERVICES, {"gitops": production_gitops}, ("staging",))


def production_files() -> dict[str, str]:
    return {manifest("production", s): deployment(s, f"{REGISTRY}/{s}:initial") for s in SERVICES}


def cluster(name: str, repository: str, branch: str) -> ClusterSettings:
    return ClusterSettings(
        name=name,
        gitops_repository=repository,
        branch=branch,
        in_cluster=True,
        namespaces=["shop"],
    )


@pytest.fixture
def shop(tmp_path: Path) -> Repo:
    return shop_repo(tmp_path / "remotes", {"repository": PRODUCTION_GITOPS})


@pytest.fixture
def prod(tmp_path: Path) -> Repo:
    return production_gitops(tmp_path / "remotes", SERVICES)


@pytest.fixture
def writer(shop: Repo, prod: Repo, tmp_path: Path, redis_client: redis.Redis) -> GitopsWriter:
    clusters = [
        cluster("staging-eu", shop.name, "main"),
        cluster("prod-eu", PRODUCTION_GITOPS, "main"),
    ]
    settings = own_gitops_settings(tmp_path / "c", shop, prod, clusters=clusters)
    return GitopsWriter.connect(settings, redis_client)


def test_a_promotion_to_production_in_its_own_repository_commits_there_only(
    shop: Repo, prod: Repo, writer: GitopsWriter
) -> None:
    commit = deployed_to_staging(shop, writer, "cart")
    image = f"{REGISTRY}/cart:sha-{commit[:7]}"
    shop_commits, prod_commits = len(shop.log()), len(prod.log())

    [event] = promote(promotion("run-promote"), writer.targets, writer.commits)

    assert len(shop.log()) == shop_commits  # staging's branch untouched
    assert len(prod.log()) == prod_commits + 1
    head = prod.log()[0]
    assert head.message.startswith("promote(production): cart from staging [skip ci]")
    assert f"Shipline-Deployed: cart acme/shop@{commit} in production\n" in head.message
    assert "Shipline-Request: " in head.message
    assert list(head.stats.files) == [manifest("production", "cart")]
    assert f"image: {image}   #" in prod.read(manifest("production", "cart"))
    assert "initial" in prod.read(manifest("production", "search"))
    assert isinstance(event, ManifestCommitted)
    assert (event.gitops_repository, event.branch, event.cluster) == (
        PRODUCTION_GITOPS,
        "main",
        "prod-eu",
    )
    assert (event.gitops_commit, event.source.commit) == (head.hexsha, commit)
    assert (event.old_image, event.new_image) == (f"{REGISTRY}/cart:initial", image)


def test_a_redelivered_promotion_to_its_own_repository_makes_no_second_commit(
    shop: Repo, prod: Repo, writer: GitopsWriter
) -> None:
    a_redelivery_commits_nothing_more(shop, writer, prod)


def test_what_staging_never_deployed_is_refused_and_production_is_untouched(
    shop: Repo, prod: Repo, writer: GitopsWriter
) -> None:
    prod_commits = len(prod.log())

    [event] = promote(promotion("run-promote", ("search",)), writer.targets, writer.commits)

    assert event.type == "StageFailed"
    assert "staging runs nothing promotable for search" in getattr(event, "message", "")
    assert len(prod.log()) == prod_commits


def test_a_promotion_to_production_on_its_own_branch_leaves_main_untouched(
    tmp_path: Path, redis_client: redis.Redis
) -> None:
    shop = shop_repo(tmp_path / "remotes", {"branch": "production"})
    shop.commit(production_files(), "production's manifests")
    shop.clone.git.push("origin", "HEAD:refs/heads/production")
    settings = settings_for(
        tmp_path / "c", shop, clusters=[cluster("prod-eu", shop.name, "production")]
    )
    writer = GitopsWriter.connect(settings, redis_client)
    commit = deployed_to_staging(shop, writer, "cart")
    main_head = shop.log()[0].hexsha

    [event] = promote(promotion("run-promote"), writer.targets, writer.commits)

    assert shop.log()[0].hexsha == main_head
    with shop.clone as clone:
        clone.git.fetch("origin")
        head = clone.commit("origin/production")
    assert f"Shipline-Deployed: cart acme/shop@{commit} in production\n" in head.message
    assert f"sha-{commit[:7]}" in shop.read(manifest("production", "cart"), "production")
    assert isinstance(event, ManifestCommitted)
    assert (event.gitops_repository, event.branch, event.cluster) == (
        shop.name,
        "production",
        "prod-eu",
    )
    assert event.gitops_commit == head.hexsha

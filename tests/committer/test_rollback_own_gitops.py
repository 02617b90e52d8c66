"""Rollbacks and pins in a production with its own gitops repository, on real repositories
and Redis: the revert and the pin are committed to production's repository (its pins file
there), staging's branch is never touched, and production's pin holds promotions until it
is unpinned there."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from services.committer.pins_file import PINS_FILE, parse_pins
from services.committer.writeback import GitopsWriter
from services.common.events import (
    ManifestCommitted,
    StageFailed,
)
from services.common.pins import PinStore
from tests.committer.gitrepos import (
    PRODUCTION_GITOPS,
    REGISTRY,
    Repo,
    deployed_to_staging,
    own_gitops_settings,
    production_gitops,
)
from tests.committer.test_promote_own_gitops import SERVICES, cluster, manifest, shop_repo
from tests.committer.test_rollback_environments import (
    promoted,
    rollback,
    two_versions_in_production,
    unpin,
)

IMAGE = f"{REGISTRY}/cart"
PRODUCTION = manifest("production", "cart")


@pytest.fixture
def shop(tmp_path: Path) -> Repo:
    return shop_repo(tmp_path / "remotes", {"repository": PRODUCTION_GITOPS})


@pytest.fixture
def prod(tmp_path: Path) -> Repo:
    return production_gitops(tmp_path / "remotes", SERVICES)


@pytest.fixture
def writer(shop: Repo, prod: Repo, tmp_path: Path, redis_client: redis.Redis) -> GitopsWriter:
    clusters = [cluster("prod-eu", PRODUCTION_GITOPS, "main")]
    settings = own_gitops_settings(tmp_path / "c", shop, prod, clusters=clusters)
    return GitopsWriter.connect(settings, redis_client)


def test_a_rollback_in_production_is_committed_and_pinned_in_its_own_repository(
    shop: Repo, prod: Repo, writer: GitopsWriter, redis_client: redis.Redis
) -> None:
    first, second = two_versions_in_production(shop, writer)
    shop_head = shop.log()[0].hexsha
    asked = rollback("production")

    committed = writer.rollback(asked)

    old, new = f"{IMAGE}:sha-{second[:7]}", f"{IMAGE}:sha-{first[:7]}"
    assert (committed.old_image, committed.new_image) == (old, new)
    assert (committed.gitops_repository, committed.branch, committed.cluster) == (
        PRODUCTION_GITOPS,
        "main",
        "prod-eu",
    )
    assert shop.log()[0].hexsha == shop_head  # staging's branch untouched
    head = prod.log()[0]
    assert committed.gitops_commit == head.hexsha
    assert head.message.splitlines()[0] == (
        f"revert(cart): roll back {old} to {new} in production [skip ci]"
    )
    assert f"Shipline-Deployed: cart acme/shop@{first} in production\n" in head.message
    assert sorted(head.stats.files) == sorted([PRODUCTION, PINS_FILE])
    assert f"image: {new}   #" in prod.read(PRODUCTION)
    pin = parse_pins(prod.read(PINS_FILE), environment="production")[("acme/shop", "cart")]
    assert (pin.image, pin.environment) == (new, "production")
    cached = PinStore(redis_client).get("acme/shop", "cart", "production")
    assert cached is not None and cached.image == new
    again = writer.rollback(asked)  # a redelivery
    assert again.gitops_commit == head.hexsha and prod.log()[0].hexsha == head.hexsha


def test_productions_pin_in_its_own_repository_holds_promotions_until_unpinned_there(
    shop: Repo, prod: Repo, writer: GitopsWriter
) -> None:
    two_versions_in_production(shop, writer)
    writer.rollback(rollback("production"))
    newest = deployed_to_staging(shop, writer, "cart")  # staging is not held

    [refused] = promoted(writer)

    assert isinstance(refused, StageFailed)
    assert "cart is pinned in production" in refused.message
    shop_head = shop.log()[0].hexsha
    done = writer.unpin(unpin("production"))
    assert done.image.startswith(f"{IMAGE}:sha-") and done.gitops_commit == prod.log()[0].hexsha
    assert shop.log()[0].hexsha == shop_head
    assert parse_pins(prod.read(PINS_FILE), environment="production") == {}
    [moved] = promoted(writer)
    assert isinstance(moved, ManifestCommitted)
    assert f"image: {IMAGE}:sha-{newest[:7]}   #" in prod.read(PRODUCTION)

"""Rollbacks from the manifest's git history, then the pin, on real repositories and Redis."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from services.committer.messages import Deployed
from services.committer.rollback_history import Version, previous_image, provenance
from services.committer.writeback import GitopsWriter
from services.common.errors import PermanentError
from services.common.events import (
    DeploymentSkipped,
    ManifestCommitted,
    RollbackRequested,
    UnpinRequested,
)
from services.common.pins import PinStore
from tests.committer.gitrepos import DIGEST, REGISTRY, Repo, monorepo, scan_passed, settings_for

IMAGE = f"{REGISTRY}/cart"


def test_previous_image_skips_versions_that_kept_the_current_image() -> None:
    history = [Version("c3", "x:3"), Version("c2", "x:3"), Version("c1", "x:2", Deployed("r", "1"))]

    assert previous_image(history, "x:3") == history[2]
    assert provenance(history, "x:2") == Deployed("r", "1")
    with pytest.raises(PermanentError, match="no earlier image"):
        previous_image(history[:2], "x:3")


@pytest.fixture
def shop(tmp_path: Path) -> Repo:
    return monorepo(tmp_path / "remotes", ["cart", "payments"])


@pytest.fixture
def writer(shop: Repo, tmp_path: Path, redis_client: redis.Redis) -> GitopsWriter:
    return GitopsWriter.connect(settings_for(tmp_path / "committer", shop), redis_client)


def deployed_twice(shop: Repo, writer: GitopsWriter) -> tuple[str, str]:
    first = shop.commit({"cart/app.txt": "v2\n"}, "feat(cart): one")
    writer.deploy(scan_passed(shop, "cart", first, "run-1"))
    second = shop.commit({"cart/app.txt": "v3\n"}, "feat(cart): two")
    writer.deploy(scan_passed(shop, "cart", second, "run-2"))
    return first, second


def rollback(shop: Repo, to: str | None = None, digest: str | None = None) -> RollbackRequested:
    return RollbackRequested(
        run_id="run-rb",
        service="cart",
        repository=shop.name,
        to=to,
        digest=digest,
        requested_by="api-token-1",
    )


def test_rollback_restores_the_image_deployed_before_the_current_one(
    shop: Repo, writer: GitopsWriter, redis_client: redis.Redis
) -> None:
    first, second = deployed_twice(shop, writer)
    before = shop.read("k8s/cart.yaml")

    committed = writer.rollback(rollback(shop))

    current, target = f"{IMAGE}:sha-{second[:7]}", f"{IMAGE}:sha-{first[:7]}"
    assert (committed.old_image, committed.new_image, committed.kind) == (
        current,
        target,
        "rollback",
    )
    assert shop.read("k8s/cart.yaml") == before.replace(current, target)
    head = shop.log()[0]
    assert committed.gitops_commit == head.hexsha
    assert head.message.splitlines()[0] == (
        f"revert(cart): roll back {current} to {target} [skip ci]"
    )
    assert f"Shipline-Deployed: cart {shop.name}@{first}" in head.message
    assert committed.source.commit == first
    pin = PinStore(redis_client).get(shop.name, "cart")
    assert pin is not None and (pin.image, pin.by, pin.run_id) == (target, "api-token-1", "run-rb")


def test_after_a_rollback_automatic_deploys_are_held_until_unpinned(
    shop: Repo, writer: GitopsWriter, redis_client: redis.Redis
) -> None:
    deployed_twice(shop, writer)
    writer.rollback(rollback(shop))
    newest = shop.commit({"cart/app.txt": "v4\n"}, "feat(cart): three")

    held = writer.deploy(scan_passed(shop, "cart", newest, "run-3"))

    assert isinstance(held, DeploymentSkipped) and held.outcome == "held"
    writer.unpin(UnpinRequested(run_id="run-up", service="cart", repository=shop.name))
    assert isinstance(writer.deploy(scan_passed(shop, "cart", newest, "run-4")), ManifestCommitted)


def test_rollback_to_a_named_tag_pins_its_digest_when_the_service_pins(
    shop: Repo, writer: GitopsWriter
) -> None:
    deployed_twice(shop, writer)

    committed = writer.rollback(rollback(shop, to="v0.9.0", digest=DIGEST))

    assert committed.new_image == f"{IMAGE}:v0.9.0"
    assert f"image: {IMAGE}:v0.9.0   #" in shop.read("k8s/cart.yaml")


def test_a_redelivered_rollback_commits_nothing_more(shop: Repo, writer: GitopsWriter) -> None:
    deployed_twice(shop, writer)
    request = rollback(shop)
    first = writer.rollback(request)
    commits = len(shop.log())

    again = writer.rollback(request)

    assert len(shop.log()) == commits
    assert (again.gitops_commit, again.old_image, again.new_image) == (
        first.gitops_commit,
        first.old_image,
        first.new_image,
    )


def test_a_second_rollback_goes_back_to_the_image_before_that(
    shop: Repo, writer: GitopsWriter
) -> None:
    first, second = deployed_twice(shop, writer)
    writer.rollback(rollback(shop))

    again = writer.rollback(rollback(shop))  # a new request, not a redelivery

    assert again.new_image == f"{IMAGE}:sha-{second[:7]}"


def test_rollback_without_an_earlier_image_fails_permanently(
    shop: Repo, writer: GitopsWriter
) -> None:
    with pytest.raises(PermanentError, match="no earlier image"):
        writer.rollback(rollback(shop))
    assert len(shop.log()) == 1

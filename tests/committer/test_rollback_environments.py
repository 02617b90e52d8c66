"""Rollbacks and pins per environment, on real repositories and Redis: a rollback in
production writes production's manifest and pins it there only; staging keeps deploying and
promoting into production is refused until production is unpinned."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import redis

from services.committer.auto_rollback import roll_back
from services.committer.pins_file import PINS_FILE, parse_pins
from services.committer.promote import promote
from services.committer.writeback import GitopsWriter
from services.common.errors import PermanentError
from services.common.events import (
    DeploymentFailed,
    ManifestCommitted,
    RollbackRequested,
    Source,
    StageFailed,
    Unpinned,
    UnpinRequested,
)
from services.common.pins import PinStore
from services.notifier.messages import summary
from tests.committer.gitrepos import (
    REGISTRY,
    Repo,
    deployed_to_staging,
    promotion,
    scan_passed,
    settings_for,
    staging_and_production,
)

IMAGE = f"{REGISTRY}/cart"


def overlay(environment: str) -> str:
    return f"k8s/{environment}/cart.yaml"


@pytest.fixture
def shop(tmp_path: Path) -> Repo:
    return staging_and_production(tmp_path / "remotes", ["cart"])


@pytest.fixture
def writer(shop: Repo, tmp_path: Path, redis_client: redis.Redis) -> GitopsWriter:
    return GitopsWriter.connect(settings_for(tmp_path / "c", shop), redis_client)


def promoted(writer: GitopsWriter) -> list[object]:
    return list(promote(promotion(), writer.targets, writer.commits))


def rollback(environment: str | None) -> RollbackRequested:
    return RollbackRequested(
        run_id="run-rb",
        service="cart",
        repository="acme/shop",
        requested_by="ops",
        environment=environment,
    )


def unpin(environment: str | None) -> UnpinRequested:
    return UnpinRequested(
        run_id=f"run-up-{uuid.uuid4().hex[:6]}",
        service="cart",
        repository="acme/shop",
        requested_by="ops",
        environment=environment,
    )


def two_versions_in_production(shop: Repo, writer: GitopsWriter) -> tuple[str, str]:
    first = deployed_to_staging(shop, writer)
    assert isinstance(promoted(writer)[0], ManifestCommitted)
    second = deployed_to_staging(shop, writer)
    assert isinstance(promoted(writer)[0], ManifestCommitted)
    return first, second


def test_a_rollback_in_production_writes_and_pins_production_only(
    shop: Repo, writer: GitopsWriter, redis_client: redis.Redis
) -> None:
    first, second = two_versions_in_production(shop, writer)
    staging_before = shop.read(overlay("staging"))

    committed = writer.rollback(rollback("production"))

    old, new = f"{IMAGE}:sha-{second[:7]}", f"{IMAGE}:sha-{first[:7]}"
    assert (committed.old_image, committed.new_image) == (old, new)
    assert committed.manifest_path == overlay("production")
    assert f"image: {new}   #" in shop.read(overlay("production"))
    assert shop.read(overlay("staging")) == staging_before
    head = shop.log()[0]
    assert head.message.splitlines()[0] == (
        f"revert(cart): roll back {old} to {new} in production [skip ci]"
    )
    assert f"Shipline-Deployed: cart acme/shop@{first} in production\n" in head.message
    assert "`shipline unpin cart -e production`" in head.message
    assert sorted(head.stats.files) == sorted([overlay("production"), PINS_FILE])
    text = shop.read(PINS_FILE)
    assert parse_pins(text) == {}  # the first environment (staging) holds no pin
    pin = parse_pins(text, environment="production")[("acme/shop", "cart")]
    assert (pin.image, pin.by, pin.environment) == (new, "ops", "production")
    store = PinStore(redis_client)
    assert store.get("acme/shop", "cart") is None
    cached = store.get("acme/shop", "cart", "production")
    assert cached is not None and cached.image == new


def test_staging_keeps_deploying_and_promotion_waits_for_productions_unpin(
    shop: Repo, writer: GitopsWriter, redis_client: redis.Redis
) -> None:
    two_versions_in_production(shop, writer)
    writer.rollback(rollback("production"))

    newest = deployed_to_staging(shop, writer)  # staging is not held by production's pin
    [refused] = promoted(writer)

    assert isinstance(refused, StageFailed)
    assert "cart is pinned in production" in refused.message
    assert "`shipline unpin cart -e production`" in refused.message
    assert writer.unpin(unpin("staging")).image == ""  # staging held no pin: nothing removed
    done = writer.unpin(unpin("production"))
    assert isinstance(done, Unpinned) and done.image.startswith(f"{IMAGE}:sha-")
    assert done.environment == "production"
    assert summary(done).startswith("cart: unpinned in production from ")
    assert shop.log()[0].message.startswith("chore(cart): unpin ")
    assert " in production [skip ci]" in shop.log()[0].message.splitlines()[0]
    assert PinStore(redis_client).get("acme/shop", "cart", "production") is None
    [moved] = promoted(writer)
    assert isinstance(moved, ManifestCommitted)
    assert f"image: {IMAGE}:sha-{newest[:7]}   #" in shop.read(overlay("production"))


def test_a_pin_in_staging_holds_staging_and_promoting_what_it_runs_is_allowed(
    shop: Repo, writer: GitopsWriter, redis_client: redis.Redis
) -> None:
    first = deployed_to_staging(shop, writer)
    deployed_to_staging(shop, writer)
    writer.rollback(rollback(None))  # the first environment, as before environments
    held = writer.deploy(
        scan_passed(shop, "cart", shop.commit({"cart/app.txt": "v9\n"}, "feat: x"), "run-9")
    )

    [moved] = promoted(writer)

    assert getattr(held, "outcome", None) == "held"
    assert isinstance(moved, ManifestCommitted)
    assert moved.new_image == f"{IMAGE}:sha-{first[:7]}"  # staging's rolled-back image
    assert PinStore(redis_client).get("acme/shop", "cart") is not None
    assert parse_pins(shop.read(PINS_FILE), environment="production") == {}


def test_a_rollback_in_the_first_environment_named_writes_what_an_unnamed_one_does(
    shop: Repo, writer: GitopsWriter
) -> None:
    deployed_to_staging(shop, writer)
    deployed_to_staging(shop, writer)

    writer.rollback(rollback("staging"))

    text = shop.read(PINS_FILE)
    assert ("acme/shop", "cart") in parse_pins(text)
    assert "environments:" not in text
    assert " in staging" not in shop.log()[0].message


def test_a_rollback_in_an_environment_shipline_yaml_does_not_name_is_refused(
    shop: Repo, writer: GitopsWriter
) -> None:
    deployed_to_staging(shop, writer)
    commits = len(shop.log())

    with pytest.raises(PermanentError, match="no environment 'qa'"):
        writer.rollback(rollback("qa"))
    with pytest.raises(PermanentError, match="no environment 'qa'"):
        writer.unpin(unpin("qa"))

    assert len(shop.log()) == commits


def test_an_automatic_rollback_of_a_failed_production_rollout_acts_in_production_only(
    shop: Repo, writer: GitopsWriter
) -> None:
    first, second = two_versions_in_production(shop, writer)
    staging_before = shop.read(overlay("staging"))
    failed = DeploymentFailed(
        run_id="run-p",
        service="cart",
        source=Source(repository="acme/shop", commit=second, ref="refs/heads/main"),
        image=f"{IMAGE}:sha-{second[:7]}",
        cluster="prod",
        gitops_commit=shop.log()[0].hexsha,
        manifest_path=overlay("production"),
        condition="CrashLoopBackOff",
        reason="cart crashed",
    )

    committed = roll_back(writer, failed)

    assert committed.manifest_path == overlay("production")
    assert f"image: {IMAGE}:sha-{first[:7]}   #" in shop.read(overlay("production"))
    assert shop.read(overlay("staging")) == staging_before
    assert ("acme/shop", "cart") in parse_pins(shop.read(PINS_FILE), environment="production")
    assert parse_pins(shop.read(PINS_FILE)) == {}

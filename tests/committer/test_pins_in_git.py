"""Pins live in the gitops branch (.shipline-gitops/pins.yaml): a rollback commits its pin
with the manifest, an unpin is a commit, and a deploy is decided on git whatever Redis
holds. Real git repositories and a real Redis."""

from __future__ import annotations

from pathlib import Path

import git
import pytest
import redis
import yaml

from services.committer.pins_file import PINS_FILE
from services.committer.survey import resurvey
from services.committer.writeback import GitopsWriter
from services.common.errors import PermanentError
from services.common.events import (
    DeploymentSkipped,
    ManifestCommitted,
    RollbackRequested,
    UnpinRequested,
)
from services.common.pins import PinStore
from services.common.service_inventory import InventoryStore
from services.common.settings import Settings
from tests.committer.gitrepos import REGISTRY, Repo, monorepo, pinned, scan_passed, settings_for

IMAGE = f"{REGISTRY}/cart"


@pytest.fixture
def shop(tmp_path: Path) -> Repo:
    return monorepo(tmp_path / "remotes", ["cart", "payments"])


@pytest.fixture
def settings(shop: Repo, tmp_path: Path) -> Settings:
    return settings_for(tmp_path / "committer", shop)


@pytest.fixture
def writer(settings: Settings, redis_client: redis.Redis) -> GitopsWriter:
    return GitopsWriter.connect(settings, redis_client)


def rolled_back(shop: Repo, writer: GitopsWriter) -> tuple[str, ManifestCommitted]:
    """cart deployed twice, then rolled back to the first: (the newest source commit, the
    rollback)."""
    first = shop.commit({"cart/app.txt": "v2\n"}, "feat(cart): one")
    writer.deploy(scan_passed(shop, "cart", first, "run-1"))
    second = shop.commit({"cart/app.txt": "v3\n"}, "feat(cart): two")
    writer.deploy(scan_passed(shop, "cart", second, "run-2"))
    request = RollbackRequested(
        run_id="run-rb", service="cart", repository=shop.name, requested_by="api-token-1"
    )
    return second, writer.rollback(request)


def files_changed(commit: git.Commit) -> set[str]:
    return set(commit.stats.files)


def unpin(shop: Repo, run_id: str = "run-up") -> UnpinRequested:
    return UnpinRequested(run_id=run_id, service="cart", repository=shop.name, requested_by="ada")


def test_a_rollbacks_one_commit_holds_the_manifest_change_and_the_pin(
    shop: Repo, writer: GitopsWriter
) -> None:
    _, committed = rolled_back(shop, writer)

    head = shop.log()[0]
    assert committed.gitops_commit == head.hexsha
    assert files_changed(head) == {"k8s/cart.yaml", PINS_FILE}
    pins = yaml.safe_load(shop.read(PINS_FILE))["pins"]
    assert pins == {
        shop.name: {
            "cart": {
                "image": committed.new_image,
                "by": "api-token-1",
                "run_id": "run-rb",
                "since": pins[shop.name]["cart"]["since"],
            }
        }
    }


def test_a_deploy_is_held_by_the_pin_in_git_when_redis_holds_none(
    shop: Repo, writer: GitopsWriter, redis_client: redis.Redis
) -> None:
    _, committed = rolled_back(shop, writer)
    cache = PinStore(redis_client)
    assert cache.unpin(shop.name, "cart") is not None  # as if Redis had lost its data
    newest = shop.commit({"cart/app.txt": "v4\n"}, "feat(cart): three")
    commits = len(shop.log())

    held = writer.deploy(scan_passed(shop, "cart", newest, "run-3"))

    assert isinstance(held, DeploymentSkipped) and held.outcome == "held"
    assert f"pinned to {committed.new_image} by api-token-1" in held.reason
    assert len(shop.log()) == commits
    assert f"image: {committed.new_image}   #" in shop.read("k8s/cart.yaml")
    cached = cache.get(shop.name, "cart")  # the decision cached what git says
    assert cached is not None and cached.image == committed.new_image


def test_a_pin_only_in_redis_does_not_hold_a_deploy(
    shop: Repo, writer: GitopsWriter, redis_client: redis.Redis
) -> None:
    PinStore(redis_client).pin(shop.name, "cart", f"{IMAGE}:initial", "ops", "run-stale")
    commit = shop.commit({"cart/app.txt": "v2\n"}, "feat(cart): one")

    outcome = writer.deploy(scan_passed(shop, "cart", commit, "run-1"))

    assert isinstance(outcome, ManifestCommitted)


def test_an_unpin_is_a_commit_removing_the_pin_and_lets_the_next_deploy_through(
    shop: Repo, writer: GitopsWriter, redis_client: redis.Redis
) -> None:
    newest, committed = rolled_back(shop, writer)

    unpinned = writer.unpin(unpin(shop))

    head = shop.log()[0]
    assert unpinned.gitops_commit == head.hexsha
    assert (unpinned.image, unpinned.pinned_by, unpinned.rollback_run_id) == (
        committed.new_image,
        "api-token-1",
        "run-rb",
    )
    assert files_changed(head) == {PINS_FILE}
    assert head.message.splitlines()[0] == f"chore(cart): unpin {committed.new_image} [skip ci]"
    assert yaml.safe_load(shop.read(PINS_FILE))["pins"] == {}
    assert PinStore(redis_client).get(shop.name, "cart") is None
    newer = shop.commit({"cart/app.txt": "v5\n"}, "feat(cart): five")
    assert isinstance(writer.deploy(scan_passed(shop, "cart", newer, "run-5")), ManifestCommitted)


def test_a_redelivered_unpin_commits_nothing_more_and_answers_the_same(
    shop: Repo, writer: GitopsWriter
) -> None:
    rolled_back(shop, writer)
    request = unpin(shop)
    first = writer.unpin(request)
    commits = len(shop.log())

    again = writer.unpin(request)

    assert len(shop.log()) == commits
    assert again.model_dump(exclude={"occurred_at"}) == first.model_dump(exclude={"occurred_at"})


def test_unpinning_a_service_git_does_not_pin_commits_nothing(
    shop: Repo, writer: GitopsWriter
) -> None:
    commits = len(shop.log())

    unpinned = writer.unpin(unpin(shop))

    assert (unpinned.image, unpinned.gitops_commit) == ("", "")
    assert len(shop.log()) == commits


def test_a_pin_written_by_hand_holds_and_its_removal_by_hand_releases(
    shop: Repo, writer: GitopsWriter
) -> None:
    pinned(shop, "cart", f"{IMAGE}:initial", by="dana")
    commit = shop.commit({"cart/app.txt": "v2\n"}, "feat(cart): one")
    held = writer.deploy(scan_passed(shop, "cart", commit, "run-1"))
    assert isinstance(held, DeploymentSkipped) and "by dana" in held.reason

    shop.commit({PINS_FILE: "pins: {}\n"}, "chore: unpin cart by hand")

    assert isinstance(writer.deploy(scan_passed(shop, "cart", commit, "run-2")), ManifestCommitted)


def test_a_pins_file_that_cannot_be_read_fails_the_deploy_saying_why(
    shop: Repo, writer: GitopsWriter
) -> None:
    shop.commit({PINS_FILE: "pins:\n  acme/shop:\n    cart: {imgae: x}\n"}, "chore: typo")
    commit = shop.commit({"cart/app.txt": "v2\n"}, "feat(cart): one")

    with pytest.raises(PermanentError, match=r"pins\.yaml on main cannot be read"):
        writer.deploy(scan_passed(shop, "cart", commit, "run-1"))
    assert "sha-" not in shop.read("k8s/cart.yaml")


def test_a_rollback_to_the_image_already_deployed_commits_only_the_pin(
    shop: Repo, writer: GitopsWriter
) -> None:
    request = RollbackRequested(
        run_id="run-rb", service="cart", repository=shop.name, to="initial", requested_by="ops"
    )

    committed = writer.rollback(request)

    head = shop.log()[0]
    assert files_changed(head) == {PINS_FILE}
    assert head.message.splitlines()[0] == f"chore(cart): pin {IMAGE}:initial [skip ci]"
    assert committed.gitops_commit == head.hexsha


def test_the_committers_survey_refills_the_pin_cache_from_git(
    shop: Repo, writer: GitopsWriter, settings: Settings, redis_client: redis.Redis
) -> None:
    _, committed = rolled_back(shop, writer)
    cache = PinStore(redis_client)
    cache.unpin(shop.name, "cart")
    cache.pin(shop.name, "payments", f"{REGISTRY}/payments:old", "ops", "run-gone")  # stale

    resurvey(settings, InventoryStore(redis_client), shop.name, pins=cache)

    assert [(p.service, p.image) for p in cache.all() if p.repository == shop.name] == [
        ("cart", committed.new_image)
    ]

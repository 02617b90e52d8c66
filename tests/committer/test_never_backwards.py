"""Superseded builds, pinned services and manual deploys, on real git repositories and Redis."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from services.committer.writeback import GitopsWriter
from services.common.events import DeploymentSkipped, ManifestCommitted, UnpinRequested
from services.common.pins import PinStore
from services.common.runs import RunStore
from tests.committer.gitrepos import (
    REGISTRY,
    Repo,
    monorepo,
    pinned,
    scan_passed,
    settings_for,
)


@pytest.fixture
def shop(tmp_path: Path) -> Repo:
    return monorepo(tmp_path / "remotes", ["cart", "payments"])


@pytest.fixture
def writer(shop: Repo, tmp_path: Path, redis_client: redis.Redis) -> GitopsWriter:
    return GitopsWriter.connect(settings_for(tmp_path / "committer", shop), redis_client)


def two_commits(shop: Repo) -> tuple[str, str]:
    older = shop.commit({"cart/app.txt": "cart v2\n"}, "feat(cart): coupons")
    newer = shop.commit({"cart/app.txt": "cart v3\n"}, "fix(cart): rounding")
    return older, newer


def test_an_older_build_finishing_after_a_newer_one_is_superseded_and_commits_nothing(
    shop: Repo, writer: GitopsWriter
) -> None:
    older, newer = two_commits(shop)
    writer.deploy(scan_passed(shop, "cart", newer, "run-new"))
    commits = len(shop.log())

    outcome = writer.deploy(scan_passed(shop, "cart", older, "run-old"))

    assert isinstance(outcome, DeploymentSkipped)
    assert outcome.outcome == "superseded"
    assert newer[:7] in outcome.reason and older[:7] in outcome.reason
    assert outcome.deployed_image == f"{REGISTRY}/cart:sha-{newer[:7]}"
    assert len(shop.log()) == commits
    assert f"image: {REGISTRY}/cart:sha-{newer[:7]}   #" in shop.read("k8s/cart.yaml")


def test_a_newer_build_replaces_an_older_one(shop: Repo, writer: GitopsWriter) -> None:
    older, newer = two_commits(shop)
    writer.deploy(scan_passed(shop, "cart", older, "run-old"))

    outcome = writer.deploy(scan_passed(shop, "cart", newer, "run-new"))

    assert isinstance(outcome, ManifestCommitted)
    assert outcome.old_image == f"{REGISTRY}/cart:sha-{older[:7]}"
    assert f"image: {REGISTRY}/cart:sha-{newer[:7]}   #" in shop.read("k8s/cart.yaml")


def test_ancestry_is_per_service(shop: Repo, writer: GitopsWriter) -> None:
    older, newer = two_commits(shop)
    writer.deploy(scan_passed(shop, "cart", newer, "run-new"))

    outcome = writer.deploy(scan_passed(shop, "payments", older, "run-old"))

    assert isinstance(outcome, ManifestCommitted)


def test_a_build_of_a_diverged_branch_is_not_superseded(shop: Repo, writer: GitopsWriter) -> None:
    base = shop.log()[0].hexsha
    newer = shop.commit({"cart/app.txt": "main\n"}, "feat: on main")
    shop.clone.git.checkout("-b", "topic", base)
    shop.clone.git.reset("--hard", base)
    (shop.work / "cart" / "app.txt").write_text("topic\n")
    shop.clone.git.add("-A")
    topic = shop.clone.index.commit("feat: on topic").hexsha
    shop.clone.git.push("origin", "HEAD:refs/heads/topic")
    shop.clone.close()
    writer.deploy(scan_passed(shop, "cart", newer, "run-main"))

    outcome = writer.deploy(scan_passed(shop, "cart", topic, "run-topic"))

    assert isinstance(outcome, ManifestCommitted)


def test_a_manual_deployment_of_an_older_image_is_not_superseded(
    shop: Repo, writer: GitopsWriter, redis_client: redis.Redis
) -> None:
    older, newer = two_commits(shop)
    writer.deploy(scan_passed(shop, "cart", newer, "run-new"))
    RunStore(redis_client).create("run-manual", trigger="deploy")

    outcome = writer.deploy(scan_passed(shop, "cart", older, "run-manual"))

    assert isinstance(outcome, ManifestCommitted)
    assert f"image: {REGISTRY}/cart:sha-{older[:7]}   #" in shop.read("k8s/cart.yaml")


def test_a_pinned_service_holds_automatic_deploys_and_says_who_pinned_it(
    shop: Repo, writer: GitopsWriter, redis_client: redis.Redis
) -> None:
    _, newer = two_commits(shop)
    pinned(shop, "cart", f"{REGISTRY}/cart:initial")
    commits = len(shop.log())

    outcome = writer.deploy(scan_passed(shop, "cart", newer, "run-new"))

    assert isinstance(outcome, DeploymentSkipped)
    assert outcome.outcome == "held"
    assert f"pinned to {REGISTRY}/cart:initial by ops-1" in outcome.reason
    assert "shipline unpin cart" in outcome.reason
    assert len(shop.log()) == commits

    other = writer.deploy(scan_passed(shop, "payments", newer, "run-new"))
    assert isinstance(other, ManifestCommitted), "a pin holds only its own service"


def test_a_manual_deployment_goes_through_a_pin(
    shop: Repo, writer: GitopsWriter, redis_client: redis.Redis
) -> None:
    _, newer = two_commits(shop)
    pinned(shop, "cart", f"{REGISTRY}/cart:initial")
    RunStore(redis_client).create("run-manual", trigger="deploy")

    outcome = writer.deploy(scan_passed(shop, "cart", newer, "run-manual"))

    assert isinstance(outcome, ManifestCommitted)


def test_unpinning_lets_automatic_deploys_through_again(
    shop: Repo, writer: GitopsWriter, redis_client: redis.Redis
) -> None:
    _, newer = two_commits(shop)
    pinned(shop, "cart", f"{REGISTRY}/cart:initial")
    assert isinstance(writer.deploy(scan_passed(shop, "cart", newer, "run-1")), DeploymentSkipped)

    unpinned = writer.unpin(UnpinRequested(run_id="run-up", service="cart", repository=shop.name))
    outcome = writer.deploy(scan_passed(shop, "cart", newer, "run-2"))

    assert unpinned.image == f"{REGISTRY}/cart:initial"
    assert isinstance(outcome, ManifestCommitted)
    assert PinStore(redis_client).get(shop.name, "cart") is None


@pytest.mark.parametrize("outcome", ["superseded", "held"])
def test_a_skipped_deploy_finishes_the_service_with_its_outcome_and_completes_the_run(
    shop: Repo, redis_client: redis.Redis, outcome: str
) -> None:
    runs = RunStore(redis_client)
    runs.create("run-1", trigger="push")
    runs.plan("run-1", ["cart"])
    skipped = DeploymentSkipped(
        run_id="run-1",
        service="cart",
        source=scan_passed(shop, "cart", "a" * 40, "run-1").source,
        image=f"{REGISTRY}/cart:sha-aaaaaaa",
        outcome=outcome,  # type: ignore[arg-type]
        reason=f"{outcome}: because",
    )

    completed = runs.apply(skipped)

    assert completed is not None and completed.type == "RunCompleted"
    assert completed.status == outcome  # type: ignore[union-attr]
    assert completed.services["cart"].status == outcome  # type: ignore[union-attr]
    assert completed.services["cart"].reason == f"{outcome}: because"  # type: ignore[union-attr]

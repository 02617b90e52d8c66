"""A failed rollout rolled back automatically, end to end through the real stages: the
committer (real git remote), the verifier (the real `kubernetes` client against the
stand-in API server of tests/verifier/fake_apiserver.py, since no Kubernetes API server
can run here) and the run store (real Redis), wired by the bus's routing rules."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from services.committer.task import STAGE as COMMITTER
from services.common.bus import stages_for
from services.common.cluster_settings import ClusterSettings
from services.common.events import (
    DeploymentFailed,
    DeploymentVerified,
    Envelope,
    ManifestCommitted,
    RunCompleted,
)
from services.common.pins import PinStore
from services.common.runtime import Runtime
from services.notifier.messages import summary
from services.verifier.task import STAGE as VERIFIER
from services.verifier.task import make_handler
from services.verifier.watches import Watches
from tests.committer.gitrepos import (
    REGISTRY,
    Repo,
    monorepo,
    scan_passed,
    scanned,
    settings_for,
    shipline_yaml,
)
from tests.verifier.fake_apiserver import FakeApiServer
from tests.verifier.objects import application, deployment, pod

IMAGE = f"{REGISTRY}/cart"


@pytest.fixture
def shop(tmp_path: Path) -> Repo:
    repo = monorepo(tmp_path / "remotes", ["cart"])
    spec = {"path": "cart/", "manifest": "k8s/cart.yaml", "auto_rollback": True}
    repo.commit({"shipline.yaml": shipline_yaml({"cart": spec})}, "chore: roll cart back by itself")
    return repo


@pytest.fixture
def runtime(
    shop: Repo, tmp_path: Path, redis_url: str, redis_client: redis.Redis, cluster: ClusterSettings
) -> Runtime:
    return Runtime(settings_for(tmp_path / "w", shop, redis_url=redis_url, clusters=[cluster]))


def only(outputs: object) -> Envelope:
    assert isinstance(outputs, tuple | list) and len(outputs) == 1, outputs
    event = outputs[0]
    assert isinstance(event, Envelope)
    return event


def test_a_crash_looping_rollout_is_rolled_back_and_the_run_says_what_failed_and_what_came_back(
    shop: Repo,
    runtime: Runtime,
    apiserver: FakeApiServer,
    cluster: ClusterSettings,
    start_watches: Callable[..., Watches],
    redis_client: redis.Redis,
) -> None:
    commit = COMMITTER.factory(runtime)
    verify = make_handler(runtime, start_watches(cluster))
    runs = runtime.runs
    first = shop.commit({"cart/app.txt": "v2\n"}, "feat(cart): one")
    commit(scanned(runtime.redis, scan_passed(shop, "cart", first, "run-1")))
    good = f"{IMAGE}:sha-{first[:7]}"
    second = shop.commit({"cart/app.txt": "v3\n"}, "feat(cart): two")
    bad = f"{IMAGE}:sha-{second[:7]}"
    runs.create("run-2", trigger="push", repository=shop.name, commit=second)
    runs.plan("run-2", ["cart"])

    # The committer writes the new image, for the cluster to verify.
    deployed = only(commit(scanned(runtime.redis, scan_passed(shop, "cart", second, "run-2"))))
    assert isinstance(deployed, ManifestCommitted)
    assert (deployed.cluster, deployed.auto_rollback, deployed.new_image) == ("prod", True, bad)
    assert stages_for(deployed) == ("verifier",)
    assert runs.apply(deployed) is None  # the run waits for the verdict
    assert runs.get("run-2").services["cart"].status == "running"

    # Argo CD syncs it, and the new pods crash.
    apiserver.put("deployments", deployment("cart", bad, updated=1, ready=0, available=0, total=3))
    apiserver.put("pods", pod("cart-new-1", "cart", bad, waiting="CrashLoopBackOff", restarts=5))
    apiserver.put(
        "applications",
        application("shop", ["cart"], revision=deployed.gitops_commit, health="Progressing"),
    )
    failed = only(verify(deployed))
    assert isinstance(failed, DeploymentFailed) and failed.auto_rollback
    assert stages_for(failed) == ("notifier", "committer")
    assert runs.apply(failed) is None  # it still waits: for the rollback
    assert "rolling back to the previous image" in summary(failed)

    # The committer reverts to the image before, through the rollback flow: pinned.
    restored = only(commit(failed))
    assert isinstance(restored, ManifestCommitted) and restored.kind == "rollback"
    assert (restored.old_image, restored.new_image) == (bad, good)
    assert f"image: {good}" in shop.read("k8s/cart.yaml")
    assert shop.log()[0].message.startswith(f"revert(cart): roll back {bad} to {good}")
    pin = PinStore(redis_client).get(shop.name, "cart")
    assert pin is not None and pin.image == good
    completed = runs.apply(restored)
    assert isinstance(completed, RunCompleted) and completed.status == "failed"
    reason = completed.services["cart"].reason
    assert reason.startswith(f"{bad} failed in prod: CrashLoopBackOff after 5 restarts")
    assert reason.endswith(f"; rolled back to {good}")
    assert "CrashLoopBackOff" in summary(completed) and f"rolled back to {good}" in summary(
        completed
    )

    # The restored image is verified too; the run's verdict stays.
    assert stages_for(restored) == ("verifier",)
    apiserver.put("deployments", deployment("cart", good))
    apiserver.put("applications", application("shop", ["cart"], revision=restored.gitops_commit))
    healthy = only(verify(restored))
    assert isinstance(healthy, DeploymentVerified) and healthy.rollback_of
    assert runs.apply(healthy) is None
    record = runs.get("run-2").services["cart"]
    assert (record.status, record.restored_health) == ("failed", "healthy")


def test_a_failed_rollout_without_automatic_rollback_ends_the_run_failed(
    shop: Repo,
    tmp_path: Path,
    redis_url: str,
    redis_client: redis.Redis,
    apiserver: FakeApiServer,
    cluster: ClusterSettings,
    start_watches: Callable[..., Watches],
) -> None:
    shop.commit(
        {"shipline.yaml": shipline_yaml({"cart": {"path": "cart/", "manifest": "k8s/cart.yaml"}})},
        "opt out",
    )
    runtime = Runtime(settings_for(tmp_path / "w2", shop, redis_url=redis_url, clusters=[cluster]))
    commit, verify = COMMITTER.factory(runtime), make_handler(runtime, start_watches(cluster))
    change = shop.commit({"cart/app.txt": "v2\n"}, "feat(cart): one")
    runtime.runs.create("run-1", trigger="push", repository=shop.name, commit=change)
    runtime.runs.plan("run-1", ["cart"])
    deployed = only(commit(scanned(runtime.redis, scan_passed(shop, "cart", change, "run-1"))))
    assert isinstance(deployed, ManifestCommitted) and not deployed.auto_rollback
    runtime.runs.apply(deployed)
    image = deployed.new_image
    apiserver.put("deployments", deployment("cart", image, updated=1, ready=0, available=0))
    apiserver.put("pods", pod("cart-1", "cart", image, waiting="ImagePullBackOff"))
    apiserver.put("applications", application("shop", ["cart"], revision=deployed.gitops_commit))

    failed = only(verify(deployed))

    assert isinstance(failed, DeploymentFailed) and not failed.auto_rollback
    assert stages_for(failed) == ("notifier",)
    completed = runtime.runs.apply(failed)
    assert isinstance(completed, RunCompleted) and completed.status == "failed"
    assert completed.services["cart"].reason.startswith("ImagePullBackOff: container cart")


def test_the_verifier_is_a_threaded_stage_consuming_commits_and_ignores_unverified_ones(
    runtime: Runtime, cluster: ClusterSettings, start_watches: Callable[..., Watches], shop: Repo
) -> None:
    assert (VERIFIER.name, VERIFIER.pool, VERIFIER.eager) == ("verifier", "threads", True)
    assert VERIFIER.consumes == (ManifestCommitted,)
    verify = make_handler(runtime, start_watches(cluster))
    unverified = ManifestCommitted(
        run_id="r",
        service="cart",
        source=scan_passed(shop, "cart", "a" * 40, "r").source,
        manifest_path="k8s/cart.yaml",
        old_image="x:1",
        new_image="x:2",
        gitops_repository=shop.name,
        gitops_commit="b" * 40,
        branch="main",
    )

    assert verify(unverified) == ()
    assert stages_for(unverified) == ("notifier",)

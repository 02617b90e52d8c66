"""The rollout verdict from the API's JSON: pending, healthy, or failed with the reason."""

from __future__ import annotations

from services.verifier.live import live_states
from services.verifier.rollout import (
    Expected,
    Failed,
    Healthy,
    Pending,
    Snapshot,
    assess,
    image_repository,
    same_image,
)
from tests.verifier.objects import application, condition, deployment, pod, statefulset

REPO = "127.0.0.1:5000/bank/cart"
OLD, NEW = f"{REPO}:sha-aaaaaaa", f"{REPO}:sha-bbbbbbb"
COMMIT = "c" * 40
DIGEST = "sha256:" + "d" * 64
EXPECTED = Expected(service="cart", image=NEW, digest=DIGEST, gitops_commit=COMMIT)


def cluster(workload: dict, *pods: dict, app: dict | None = None) -> Snapshot:
    return Snapshot([workload], list(pods), [app or application("shop", ["cart"], revision=COMMIT)])


def test_a_rolled_out_deployment_synced_and_healthy_is_healthy() -> None:
    verdict = assess(EXPECTED, cluster(deployment("cart", NEW), pod("cart-1", "cart", NEW)))

    assert verdict == Healthy("Deployment shop/cart", "argocd/shop", ready_replicas=2)


def test_until_argo_cd_applies_the_commit_the_old_image_keeps_it_pending() -> None:
    app = application("shop", ["cart"], sync="OutOfSync", revision="e" * 40)

    verdict = assess(EXPECTED, cluster(deployment("cart", OLD), app=app))

    assert isinstance(verdict, Pending)
    assert f"to run {NEW} (it runs {OLD})" in verdict.waiting_for


def test_each_unfinished_step_of_the_rollout_is_pending() -> None:
    steps = {
        "new generation": deployment("cart", NEW, generation=3, observed=2),
        "1 of 2 replicas updated": deployment("cart", NEW, updated=1),
        "1 old replicas to terminate": deployment("cart", NEW, total=3),
        "1 of 2 updated replicas available": deployment("cart", NEW, available=1),
    }
    for words, workload in steps.items():
        verdict = assess(EXPECTED, cluster(workload))
        assert isinstance(verdict, Pending) and words in verdict.waiting_for, (words, verdict)


def test_synced_at_a_later_revision_counts_when_it_contains_the_commit() -> None:
    later = application("shop", ["cart"], revision="f" * 40)
    snapshot = cluster(deployment("cart", NEW), app=later)

    pending = assess(EXPECTED, snapshot, contains=lambda revision: False)

    assert isinstance(pending, Pending)
    assert "at a revision containing ccccccc (it is at fffffff)" in pending.waiting_for
    assert isinstance(assess(EXPECTED, snapshot, contains=lambda r: r == "f" * 40), Healthy)


def test_argo_cd_still_syncing_or_progressing_is_pending() -> None:
    for app in (
        application("shop", ["cart"], sync="OutOfSync"),
        application("shop", ["cart"], health="Progressing"),
    ):
        assert isinstance(assess(EXPECTED, cluster(deployment("cart", NEW), app=app)), Pending)


def test_a_crash_looping_pod_of_the_new_image_fails_with_its_reason() -> None:
    crashing = pod(
        "cart-2",
        "cart",
        NEW,
        waiting="CrashLoopBackOff",
        restarts=4,
        message="back-off 40s restarting failed container=cart",
    )

    verdict = assess(EXPECTED, cluster(deployment("cart", NEW, available=1), crashing))

    assert isinstance(verdict, Failed) and verdict.condition == "CrashLoopBackOff"
    assert verdict.reason.startswith(
        "CrashLoopBackOff after 4 restarts: container cart of pod cart-2"
    )


def test_an_image_that_cannot_be_pulled_fails_but_a_first_pull_error_waits() -> None:
    backoff = pod("cart-2", "cart", NEW, waiting="ImagePullBackOff", message="Back-off pulling")
    first = pod("cart-2", "cart", NEW, waiting="ErrImagePull")
    rolling = deployment("cart", NEW, available=1, ready=1)

    failed = assess(EXPECTED, cluster(rolling, backoff))

    assert isinstance(failed, Failed) and failed.condition == "ImagePullBackOff"
    assert isinstance(assess(EXPECTED, cluster(rolling, first)), Pending)


def test_a_crashing_pod_of_the_old_image_does_not_fail_the_new_rollout() -> None:
    old_crash = pod("cart-0", "cart", OLD, waiting="CrashLoopBackOff")

    verdict = assess(EXPECTED, cluster(deployment("cart", NEW, available=1), old_crash))

    assert isinstance(verdict, Pending)


def test_progress_deadline_exceeded_fails_once_the_new_generation_is_observed() -> None:
    stuck = [
        condition(
            "Progressing",
            "False",
            "ProgressDeadlineExceeded",
            'ReplicaSet "cart-5f7b9c" has timed out progressing.',
        )
    ]
    before = deployment("cart", NEW, generation=3, observed=2, updated=1, conditions=stuck)

    failed = assess(EXPECTED, cluster(deployment("cart", NEW, updated=1, conditions=stuck)))

    assert isinstance(failed, Failed) and failed.condition == "ProgressDeadlineExceeded"
    assert "has timed out progressing" in failed.reason
    assert isinstance(assess(EXPECTED, cluster(before)), Pending)


def test_argo_cd_degraded_fails_with_its_message() -> None:
    app = application(
        "shop",
        ["cart"],
        revision=COMMIT,
        health="Degraded",
        message="Deployment cart exceeded its progress deadline",
    )

    verdict = assess(EXPECTED, cluster(deployment("cart", NEW), app=app))

    assert verdict == Failed(
        "Degraded",
        "Argo CD reports argocd/shop Degraded: Deployment cart exceeded its progress deadline",
        "Deployment shop/cart",
        "argocd/shop",
    )


def test_degraded_from_before_the_commit_does_not_fail_it() -> None:
    app = application("shop", ["cart"], sync="OutOfSync", revision="e" * 40, health="Degraded")

    assert isinstance(assess(EXPECTED, cluster(deployment("cart", OLD), app=app)), Pending)


def test_a_failed_sync_of_the_commit_fails() -> None:
    operation = {
        "phase": "Failed",
        "message": "one or more objects failed to apply",
        "syncResult": {"revision": COMMIT},
    }
    app = application("shop", ["cart"], sync="OutOfSync", operation=operation)

    verdict = assess(EXPECTED, cluster(deployment("cart", OLD), app=app))

    assert isinstance(verdict, Failed) and verdict.condition == "SyncFailed"


def test_without_argo_cd_the_workload_alone_decides() -> None:
    snapshot = Snapshot([deployment("cart", NEW)], [], [])

    assert isinstance(assess(EXPECTED, snapshot), Pending)  # waits for an Application
    assert isinstance(assess(EXPECTED, snapshot, argocd=False), Healthy)


def test_a_statefulset_is_healthy_when_every_replica_is_ready_at_the_update_revision() -> None:
    app = application("shop", [], revision=COMMIT)
    app["status"]["resources"] = [{"kind": "StatefulSet", "namespace": "shop", "name": "cart"}]

    ready = assess(EXPECTED, Snapshot([statefulset("cart", NEW, replicas=3)], [], [app]))
    starting = assess(
        EXPECTED, Snapshot([statefulset("cart", NEW, replicas=3, ready=2)], [], [app])
    )

    assert isinstance(ready, Healthy) and ready.workload == "StatefulSet shop/cart"
    assert isinstance(starting, Pending) and "2 of 3 replicas ready" in starting.waiting_for


def test_the_workload_is_found_by_image_repository_and_a_pinned_digest_matches() -> None:
    pinned = Expected(service="cart", image=f"{NEW}@{DIGEST}", digest=DIGEST, gitops_commit=COMMIT)
    other = deployment("payments", "127.0.0.1:5000/bank/payments:v1")

    verdict = assess(
        pinned,
        Snapshot(
            [other, deployment("cart", f"{REPO}@{DIGEST}")],
            [],
            [application("shop", ["cart", "payments"], revision=COMMIT)],
        ),
    )

    assert isinstance(verdict, Healthy) and verdict.workload == "Deployment shop/cart"
    assert image_repository(f"{REPO}:v1@{DIGEST}") == REPO == image_repository(REPO)
    assert not same_image(OLD, EXPECTED)


def test_no_workload_running_the_image_is_pending() -> None:
    verdict = assess(EXPECTED, Snapshot([deployment("payments", "x/payments:1")], [], []))

    assert isinstance(verdict, Pending) and REPO in verdict.waiting_for


def test_live_states_show_each_image_repository_with_sync_health_and_replicas() -> None:
    snapshot = cluster(deployment("cart", NEW, ready=1, available=1))

    [(repository, state)] = live_states(snapshot).items()

    assert repository == REPO
    assert state == {
        "image": NEW,
        "workload": "Deployment shop/cart",
        "replicas": 2,
        "ready_replicas": 1,
        "updated_replicas": 2,
        "rolled_out": False,
        "application": "argocd/shop",
        "sync": "Synced",
        "revision": COMMIT,
        "health": "Healthy",
    }

"""Verifying rollouts with the real `kubernetes` client against a stand-in API server.

No Kubernetes API server can run on these machines (DESIGN.md), so the official client
talks, through a kubeconfig with a bearer token, to tests/verifier/fake_apiserver.py on
loopback: it serves apps/v1 Deployments, v1 Pods and argoproj.io/v1alpha1 Applications
with the JSON shapes the APIs document, list + watch (chunked JSON lines) and `410 Gone`
for a compacted resourceVersion. The test plays Argo CD and the controllers by storing
objects while the verification waits.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
import redis

from services.common.cluster_settings import ClusterSettings
from services.common.errors import TransientError
from services.common.events import DeploymentFailed, DeploymentVerified, ManifestCommitted
from services.verifier.live import LiveStore
from services.verifier.verify import Verdict, verify
from services.verifier.watches import ClusterView, Watches
from tests.verifier.commits import COMMIT, NEW, OLD, REPO, manifest_committed
from tests.verifier.conftest import running_old_image, synced
from tests.verifier.fake_apiserver import FakeApiServer
from tests.verifier.objects import application, condition, deployment, pod


def committed(**changes: object) -> ManifestCommitted:
    return manifest_committed("run-1", **{"auto_rollback": True, **changes})


@pytest.fixture
def view(
    apiserver: FakeApiServer, cluster: ClusterSettings, start_watches: Callable[..., Watches]
) -> ClusterView:
    running_old_image(apiserver)
    view = synced(start_watches(cluster).view("prod"))
    deadline = time.monotonic() + 10
    while len(apiserver.watches()) < len(view.informers):
        assert time.monotonic() < deadline, "the informers never watched"
        time.sleep(0.05)
    return view


def verifying(view: ClusterView, event: ManifestCommitted, deadline: float = 20) -> Future[Verdict]:
    pool = ThreadPoolExecutor(max_workers=1)
    future = pool.submit(verify, event, view, deadline, time.time() - 5, time.time)
    pool.shutdown(wait=False)
    return future


def test_a_healthy_rollout_is_verified_once_argo_cd_and_the_deployment_agree(
    apiserver: FakeApiServer, view: ClusterView
) -> None:
    event = committed()
    result = verifying(view, event)
    steps = [
        ("applications", application("shop", ["cart"], sync="OutOfSync", revision="e" * 40)),
        ("deployments", deployment("cart", NEW, generation=2, observed=1)),
        ("deployments", deployment("cart", NEW, updated=1, ready=1, available=1, total=3)),
        ("pods", pod("cart-new-1", "cart", NEW)),
        ("deployments", deployment("cart", NEW)),
        ("applications", application("shop", ["cart"], revision=COMMIT, health="Progressing")),
    ]
    for plural, obj in steps:
        apiserver.put(plural, obj)
        time.sleep(0.1)
        assert not result.done(), f"verified too early, at {plural} {obj['status']}"
    apiserver.put("applications", application("shop", ["cart"], revision=COMMIT))

    verdict = result.result(timeout=10)

    assert isinstance(verdict, DeploymentVerified)
    assert (verdict.workload, verdict.application) == ("Deployment shop/cart", "argocd/shop")
    assert (verdict.image, verdict.cluster, verdict.ready_replicas) == (NEW, "prod", 2)
    assert verdict.seconds >= 5 > verdict.rollout_seconds >= 0
    assert verdict.event_id == event.follow_up_id("DeploymentVerified")
    assert len(apiserver.lists()) == 4  # one list per kind and namespace: watched, not polled


def roll_out_new_image(apiserver: FakeApiServer) -> None:
    apiserver.put(
        "applications", application("shop", ["cart"], revision=COMMIT, health="Progressing")
    )
    apiserver.put("deployments", deployment("cart", NEW, updated=1, ready=0, available=0, total=3))


def test_a_crash_looping_pod_fails_the_rollout_with_its_waiting_reason(
    apiserver: FakeApiServer, view: ClusterView
) -> None:
    result = verifying(view, committed())
    roll_out_new_image(apiserver)
    apiserver.put(
        "pods",
        pod(
            "cart-new-1",
            "cart",
            NEW,
            waiting="CrashLoopBackOff",
            restarts=3,
            message="back-off 20s restarting failed container=cart pod=cart-new-1",
        ),
    )

    verdict = result.result(timeout=10)

    assert isinstance(verdict, DeploymentFailed) and verdict.condition == "CrashLoopBackOff"
    assert verdict.reason == (
        "CrashLoopBackOff after 3 restarts: container cart of pod cart-new-1: "
        "back-off 20s restarting failed container=cart pod=cart-new-1"
    )
    assert verdict.auto_rollback and verdict.old_image == OLD


def test_an_image_pull_failure_fails_the_rollout(
    apiserver: FakeApiServer, view: ClusterView
) -> None:
    result = verifying(view, committed(auto_rollback=False))
    roll_out_new_image(apiserver)
    apiserver.put("pods", pod("cart-new-1", "cart", NEW, waiting="ErrImagePull"))
    time.sleep(0.2)
    assert not result.done()
    apiserver.put(
        "pods",
        pod(
            "cart-new-1",
            "cart",
            NEW,
            waiting="ImagePullBackOff",
            message=f'Back-off pulling image "{NEW}"',
        ),
    )

    verdict = result.result(timeout=10)

    assert isinstance(verdict, DeploymentFailed) and verdict.condition == "ImagePullBackOff"
    assert f'Back-off pulling image "{NEW}"' in verdict.reason
    assert not verdict.auto_rollback


def test_a_rollout_stalled_past_the_deadline_fails_with_what_it_waited_for(
    apiserver: FakeApiServer, view: ClusterView
) -> None:
    result = verifying(view, committed(), deadline=1.5)
    apiserver.put(
        "applications", application("shop", ["cart"], revision=COMMIT, health="Progressing")
    )
    apiserver.put("deployments", deployment("cart", NEW, updated=1, ready=1, available=1, total=3))

    verdict = result.result(timeout=10)

    assert isinstance(verdict, DeploymentFailed) and verdict.condition == "DeadlineExceeded"
    assert verdict.reason == (
        "not healthy 1.5s after the commit: waiting for "
        "Deployment shop/cart: 1 of 2 replicas updated"
    )


def test_progress_deadline_exceeded_fails_the_rollout(
    apiserver: FakeApiServer, view: ClusterView
) -> None:
    result = verifying(view, committed())
    stuck = [
        condition(
            "Progressing",
            "False",
            "ProgressDeadlineExceeded",
            'ReplicaSet "cart-5f7b9c" has timed out progressing.',
        )
    ]
    apiserver.put("deployments", deployment("cart", NEW, updated=1, conditions=stuck))

    verdict = result.result(timeout=10)

    assert isinstance(verdict, DeploymentFailed)
    assert verdict.condition == "ProgressDeadlineExceeded"


def test_argo_cd_reporting_degraded_fails_the_rollout(
    apiserver: FakeApiServer, view: ClusterView
) -> None:
    result = verifying(view, committed())
    apiserver.put("deployments", deployment("cart", NEW))
    apiserver.put(
        "applications",
        application(
            "shop",
            ["cart"],
            revision=COMMIT,
            health="Degraded",
            message="Readiness probe failed: HTTP probe failed with statuscode: 503",
        ),
    )

    verdict = result.result(timeout=10)

    assert isinstance(verdict, DeploymentFailed) and verdict.condition == "Degraded"
    assert verdict.reason == (
        "Argo CD reports argocd/shop Degraded: "
        "Readiness probe failed: HTTP probe failed with statuscode: 503"
    )


def test_an_expired_watch_lists_again_and_sees_what_changed_meanwhile(
    apiserver: FakeApiServer, view: ClusterView
) -> None:
    [deployments] = [i for i in view.informers if i.resource.kind == "Deployment"]
    seen_version = deployments.resource_version
    result = verifying(view, committed())

    apiserver.expire_watches(
        ("deployments", deployment("cart", NEW)),
        ("applications", application("shop", ["cart"], revision=COMMIT)),
    )
    verdict = result.result(timeout=10)

    assert isinstance(verdict, DeploymentVerified)
    path = "/apis/apps/v1/namespaces/shop/deployments"
    resumed = [
        r for r in apiserver.watches() if path in r and f"resourceVersion={seen_version}&" in r
    ]
    assert len(resumed) >= 2, "the dropped watch did not resume from its last resourceVersion"
    assert deployments.lists == 2  # listed again after the 410, once
    assert [r for r in apiserver.lists() if path in r][-1] == f"GET {path}"


def test_one_watch_per_namespace_and_kind_serves_every_verification(
    apiserver: FakeApiServer, view: ClusterView
) -> None:
    assert len(apiserver.watches()) == len(view.informers) == 4
    payments = committed(service="payments", new_image="127.0.0.1:5000/bank/payments:v2")
    results = [verifying(view, committed()), verifying(view, payments)]
    apiserver.put("deployments", deployment("payments", "127.0.0.1:5000/bank/payments:v2"))
    apiserver.put("deployments", deployment("cart", NEW))
    apiserver.put("applications", application("shop", ["cart", "payments"], revision=COMMIT))

    verdicts = [r.result(timeout=10) for r in results]

    assert all(isinstance(v, DeploymentVerified) for v in verdicts)
    assert len(apiserver.watches()) == 4  # no verification opened a watch of its own


def test_an_unreachable_cluster_is_a_transient_error_not_a_failed_rollout(
    tmp_path: object, start_watches: Callable[..., Watches], apiserver: FakeApiServer
) -> None:
    apiserver.stop()
    cluster = ClusterSettings(
        name="prod",
        kubeconfig=apiserver.kubeconfig(tmp_path / "kubeconfig"),  # type: ignore[operator]
        namespaces=["shop"],
        request_timeout_seconds=1,
    )
    view = start_watches(cluster).view("prod")
    assert view is not None
    old = committed().model_copy(update={"occurred_at": datetime.now(UTC)})

    with pytest.raises(TransientError, match="cluster prod unreachable: Deployments in shop"):
        verify(old, view, 1.0, time.time(), time.time)


def test_the_watches_keep_each_services_live_state_in_redis(
    apiserver: FakeApiServer,
    cluster: ClusterSettings,
    start_watches: Callable[..., Watches],
    redis_client: redis.Redis,
) -> None:
    running_old_image(apiserver)
    store = LiveStore(redis_client)
    start_watches(cluster, on_snapshot=store.save)
    apiserver.put("deployments", deployment("cart", NEW, ready=1, available=1))

    deadline = time.monotonic() + 10
    while store.read("prod").get(REPO, {}).get("image") != NEW:
        assert time.monotonic() < deadline, store.read("prod")
        threading.Event().wait(0.1)

    state = store.read("prod")[REPO]
    assert (state["ready_replicas"], state["replicas"], state["sync"]) == (1, 2, "Synced")
    assert state["workload"] == "Deployment shop/cart" and state["observed_at"] > 0

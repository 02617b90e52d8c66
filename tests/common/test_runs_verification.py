"""The run store with a cluster configured: a service's run ends at the verifier's verdict
(or at the automatic rollback), not at the commit; without one, at the commit as before."""

from __future__ import annotations

import pytest
import redis

from services.common.events import (
    DeploymentFailed,
    DeploymentVerified,
    ManifestCommitted,
    RunCompleted,
    Source,
)
from services.common.runs import RunStore

RUN = "run-v"
SOURCE = Source(repository="acme/shop", commit="a" * 40, ref="refs/heads/main")
OLD, NEW = "127.0.0.1:5000/shop/cart:sha-1111111", "127.0.0.1:5000/shop/cart:sha-2222222"


@pytest.fixture
def runs(redis_client: redis.Redis) -> RunStore:
    store = RunStore(redis_client)
    store.create(RUN, trigger="push", repository="acme/shop", commit="a" * 40)
    store.plan(RUN, ["cart"])
    return store


def committed(cluster: str | None = "prod", **fields: object) -> ManifestCommitted:
    return ManifestCommitted(
        run_id=RUN,
        service="cart",
        source=SOURCE,
        manifest_path="k8s/cart.yaml",
        old_image=OLD,
        new_image=NEW,
        gitops_repository="acme/shop",
        gitops_commit="c" * 40,
        branch="main",
        cluster=cluster,
        **fields,  # type: ignore[arg-type]
    )


def verdict(kind: type, **fields: object) -> DeploymentVerified | DeploymentFailed:
    base = {"run_id": RUN, "service": "cart", "source": SOURCE, "image": NEW, "old_image": OLD}
    base |= {"cluster": "prod", "gitops_commit": "c" * 40}
    return kind(**(base | fields))  # type: ignore[no-any-return]


def test_without_a_cluster_the_run_ends_at_the_commit(runs: RunStore) -> None:
    completed = runs.apply(committed(cluster=None))

    assert isinstance(completed, RunCompleted) and completed.status == "succeeded"


def test_with_a_cluster_the_run_waits_for_the_verifier_and_succeeds_when_verified(
    runs: RunStore,
) -> None:
    assert runs.apply(committed()) is None
    assert runs.get(RUN).status == "running"
    assert runs.get(RUN).services["cart"].status == "running"

    completed = runs.apply(
        verdict(DeploymentVerified, seconds=42.0, workload="Deployment shop/cart")
    )

    assert isinstance(completed, RunCompleted) and completed.status == "succeeded"
    service = runs.get(RUN).services["cart"]
    assert (service.image, service.push_to_healthy) == (NEW, 42.0)
    assert "verifier" in service.timings


def test_a_failed_rollout_fails_the_run_with_the_reason(runs: RunStore) -> None:
    runs.apply(committed())

    completed = runs.apply(
        verdict(
            DeploymentFailed, condition="Degraded", reason="Argo CD reports argocd/shop Degraded"
        )
    )

    assert isinstance(completed, RunCompleted) and completed.status == "failed"
    assert completed.services["cart"].reason == "Argo CD reports argocd/shop Degraded"


def test_with_automatic_rollback_the_run_ends_at_the_rollback_commit_naming_both(
    runs: RunStore,
) -> None:
    runs.apply(committed(auto_rollback=True))
    failed = verdict(
        DeploymentFailed,
        condition="CrashLoopBackOff",
        reason="CrashLoopBackOff",
        auto_rollback=True,
    )
    assert runs.apply(failed) is None
    rollback = committed(kind="rollback", rollback_of=f"{NEW} failed in prod: CrashLoopBackOff")
    rollback = rollback.model_copy(update={"old_image": NEW, "new_image": OLD})

    completed = runs.apply(rollback)

    assert isinstance(completed, RunCompleted) and completed.status == "failed"
    assert completed.services["cart"].reason == (
        f"{NEW} failed in prod: CrashLoopBackOff; rolled back to {OLD}"
    )
    again = runs.apply(verdict(DeploymentVerified, seconds=1.0, rollback_of="x", image=OLD))
    assert again is None and runs.get(RUN).services["cart"].status == "failed"

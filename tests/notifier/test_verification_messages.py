"""What people are told about a rollout's verdict in the cluster."""

from __future__ import annotations

from services.common.events import DeploymentFailed, DeploymentVerified, Source
from services.notifier.messages import body, outcome, summary

SOURCE = Source(repository="acme/shop", commit="a" * 40, ref="refs/heads/main")
COMMON = {
    "run_id": "run-1",
    "service": "cart",
    "source": SOURCE,
    "image": "reg/cart:sha-2222222",
    "old_image": "reg/cart:sha-1111111",
    "cluster": "prod",
    "gitops_commit": "c" * 40,
}


def test_a_verified_rollout_says_healthy_where_and_how_long_after_the_push() -> None:
    verified = DeploymentVerified(**COMMON, seconds=83.4, ready_replicas=3)  # type: ignore[arg-type]

    assert (
        summary(verified)
        == "cart: reg/cart:sha-2222222 healthy in prod (3 ready), 83s after the push"
    )
    assert outcome(verified) == "succeeded"


def test_a_failed_rollout_says_why_and_what_it_rolls_back_to() -> None:
    failed = DeploymentFailed(
        **COMMON,  # type: ignore[arg-type]
        condition="CrashLoopBackOff",
        reason="CrashLoopBackOff after 4 restarts: container cart of pod cart-1",
        auto_rollback=True,
    )

    assert summary(failed) == (
        "cart: reg/cart:sha-2222222 failed in prod: CrashLoopBackOff after 4 restarts: "
        "container cart of pod cart-1; rolling back to the previous image (reg/cart:sha-1111111)"
    )
    assert outcome(failed) == body(failed)["status"] == "failed"

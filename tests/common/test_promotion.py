"""Whether a service can be promoted, from what the source and target environments run."""

from __future__ import annotations

from services.common.environment_view import Running
from services.common.promotion import Already, Promote, Refused, decide_promotion

IMAGE = "127.0.0.1:5000/bank/cart:sha-aaaaaaa"
STAGED = Running(image=IMAGE, repository="acme/shop", commit="a" * 40)


def test_what_staging_runs_is_promoted_as_it_is() -> None:
    target = Running(image="127.0.0.1:5000/bank/cart:old", repository="acme/shop", commit="b" * 40)

    assert decide_promotion("cart", "staging", "production", STAGED, target) == Promote(
        IMAGE, "acme/shop", "a" * 40
    )


def test_what_production_runs_already_is_nothing_to_promote() -> None:
    assert decide_promotion("cart", "staging", "production", STAGED, STAGED) == Already(IMAGE)


def test_a_service_never_deployed_to_staging_is_refused_with_the_reason() -> None:
    source = Running(image=IMAGE, why_not="k8s/staging/cart.yaml was changed by hand")

    decision = decide_promotion("cart", "staging", "production", source, Running())

    assert decision == Refused(
        "staging runs nothing promotable for cart: k8s/staging/cart.yaml was changed by hand"
    )


def test_a_service_pinned_in_the_target_is_refused() -> None:
    decision = decide_promotion("cart", "staging", "production", STAGED, Running(pinned=True))

    assert isinstance(decision, Refused) and "cart is pinned in production" in decision.reason

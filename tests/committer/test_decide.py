"""The committer's pure decisions, table-driven: no git, no Redis.

Whether an automatic deploy may replace what a service runs (decide), and whether an image
may be deployed at all (refusal)."""

from __future__ import annotations

import pytest

from services.committer.decide import Decision, Held, Proceed, Superseded, decide, refusal
from services.committer.messages import Deployed
from services.common.events import Source
from services.common.pins import Pin
from services.common.scan_verdicts import ScanVerdict

OWN = "127.0.0.1:5000/shop/cart"
DIGEST = "sha256:" + "ab" * 32


def verdict(**changes: str) -> ScanVerdict:
    fields = {
        "image_repository": OWN,
        "digest": DIGEST,
        "service": "cart",
        "outcome": "passed",
        "run_id": "run-1",
        "policy": "secrets block; HIGH 0",
    }
    return ScanVerdict.model_validate({**fields, **changes})


@pytest.mark.parametrize(
    ("repository", "recorded", "reason"),
    [
        (OWN, verdict(), None),
        (OWN, verdict(outcome="skipped", skipped_by="api-token-1", skip_reason="INC-1"), None),
        ("evil.example.com/backdoor", verdict(), "is not an image of cart"),
        (OWN, None, "recorded no verdict"),
        (OWN, verdict(service="payments"), "recorded no verdict"),
        (OWN, verdict(outcome="failed"), "the scanner blocked"),
        (OWN, verdict(outcome="skipped"), "without a recorded who and why"),
    ],
)
def test_only_the_services_own_image_with_a_recorded_verdict_is_admitted(
    repository: str, recorded: ScanVerdict | None, reason: str | None
) -> None:
    why = refusal("cart", repository, DIGEST, OWN, recorded)

    if reason is None:
        assert why is None
    else:
        assert why is not None and reason in why


# The source repository's history: A <- B <- C on main, and D branched off A.
A, B, C, D = ("a" * 40, "b" * 40, "c" * 40, "d" * 40)
ANCESTORS = {A: set(), B: {A}, C: {A, B}, D: {A}}
SHOP, OTHER = "acme/shop", "acme/other"
PIN = Pin(SHOP, "cart", "127.0.0.1:5000/shop/cart:sha-aaaaaaa", "ops@example.com", "run-9", 0.0)


def built_from(commit: str) -> Source:
    return Source(repository=SHOP, commit=commit, ref="refs/heads/main")


@pytest.mark.parametrize(
    ("source", "deployed", "pin", "manual", "expected", "ancestry_asked"),
    [
        pytest.param(A, Deployed(SHOP, B), PIN, True, Proceed(), False, id="manual"),
        pytest.param(
            C,
            Deployed(SHOP, B),
            PIN,
            False,
            Held(
                "held: pinned to 127.0.0.1:5000/shop/cart:sha-aaaaaaa by ops@example.com "
                "(rollback run run-9); `shipline unpin cart` to deploy again"
            ),
            False,
            id="pinned",
        ),
        pytest.param(A, Deployed(OTHER, B), None, False, Proceed(), False, id="other repository"),
        pytest.param(B, Deployed(SHOP, B), None, False, Proceed(), False, id="same commit"),
        pytest.param(
            A,
            Deployed(SHOP, B),
            None,
            False,
            Superseded("superseded: bbbbbbb is deployed, and aaaaaaa is older"),
            True,
            id="ancestor",
        ),
        pytest.param(C, Deployed(SHOP, B), None, False, Proceed(), True, id="newer"),
        pytest.param(D, Deployed(SHOP, B), None, False, Proceed(), True, id="diverged"),
    ],
)
def test_an_automatic_deploy_is_held_while_pinned_and_never_goes_backwards(
    source: str,
    deployed: Deployed,
    pin: Pin | None,
    manual: bool,
    expected: Decision,
    ancestry_asked: bool,
) -> None:
    asked: list[tuple[str, str]] = []

    def is_ancestor(older: str, newer: str) -> bool:
        asked.append((older, newer))
        return older in ANCESTORS[newer]

    decision = decide(built_from(source), deployed, pin, manual, is_ancestor)

    assert decision == expected
    assert asked == ([(source, deployed.commit)] if ancestry_asked else [])

"""The committer's admission decision, table-driven: no git, no Redis."""

from __future__ import annotations

import pytest

from services.committer.decide import refusal
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

"""The trailer a commit to a later environment carries, and the promotion commit's message."""

from __future__ import annotations

import uuid

import pytest

from services.committer.messages import deployed_trailer, promotion_message
from services.common.errors import PermanentError
from services.common.events import Source
from services.common.git import CommitInfo
from services.detector.deployed import newest_trailers
from services.detector.environment_runs import newest_in

COMMIT = "a" * 40
SOURCE = Source(repository="acme/shop", commit=COMMIT, ref="refs/heads/main")
DIGEST = "sha256:" + "ab" * 32
IMAGE = "127.0.0.1:5000/bank/cart:sha-aaaaaaa@" + DIGEST
REQUEST = uuid.UUID(int=7)


def test_the_first_environment_keeps_the_trailer_every_reader_knows() -> None:
    assert deployed_trailer("cart", SOURCE) == f"Shipline-Deployed: cart acme/shop@{COMMIT}"


def test_a_later_environment_is_named_after_the_commit() -> None:
    assert (
        deployed_trailer("cart", SOURCE, "production")
        == f"Shipline-Deployed: cart acme/shop@{COMMIT} in production"
    )


def test_a_promotion_names_source_environment_image_digest_and_source_commit() -> None:
    message = promotion_message(
        "production", "staging", {"cart": (IMAGE, DIGEST, SOURCE)}, "ada", "soaked\na day", REQUEST
    )

    assert message == (
        "promote(production): cart from staging [skip ci]\n\n"
        "Promoted by ada (soaked a day): production now runs what staging runs.\n"
        f"- cart: {IMAGE} built from acme/shop@{COMMIT}\n\n"
        f"Shipline-Deployed: cart acme/shop@{COMMIT} in production\n"
        f"Shipline-Request: {REQUEST}\n"
    )
    commit = CommitInfo(sha="b" * 40, author_email="bot@example.com", message=message)
    assert newest_in([commit], "production")["cart"].commit == COMMIT
    assert newest_in([commit], "staging") == {}
    assert newest_trailers([commit]) == {}  # the first environment's reader skips it


@pytest.mark.parametrize("environment", ["prod\nShipline-Request: x", "Prod", "prod uction", ""])
def test_an_environment_that_would_break_the_trailer_is_refused(environment: str) -> None:
    with pytest.raises(PermanentError):
        deployed_trailer("cart", SOURCE, environment)


def test_an_image_with_a_line_break_is_refused_for_a_promotion() -> None:
    with pytest.raises(PermanentError):
        promotion_message(
            "production",
            "staging",
            {"cart": ("x\nShipline-Request: y", "", SOURCE)},
            "",
            "",
            REQUEST,
        )


def test_a_digest_the_image_does_not_pin_is_named_beside_it() -> None:
    message = promotion_message(
        "production",
        "staging",
        {"cart": ("127.0.0.1:5000/bank/cart:sha-aaaaaaa", DIGEST, SOURCE)},
        "",
        "",
        REQUEST,
    )

    assert f"- cart: 127.0.0.1:5000/bank/cart:sha-aaaaaaa ({DIGEST}) built from" in message

"""The pins file (.shipline-gitops/pins.yaml) read and written: pure, no git."""

from __future__ import annotations

import pytest
import yaml

from services.committer.pins_file import (
    HEADER,
    PinsFileError,
    parse_pins,
    render_pins,
    same_pin,
    with_pin,
    without_pin,
)
from services.common.pins import Pin

CART = Pin("acme/shop", "cart", "reg/cart:sha-1111111", "ops@example.com", "run-rb", 1_765_000_000)
PAYMENTS = Pin("acme/shop", "payments", "reg/payments:v1", "ada", "run-rb2", 1_765_000_100)
OTHER = Pin("acme/bank", "cart", "reg/bank-cart:v3", "bob", "run-rb3", 1_765_000_200)


@pytest.mark.parametrize("text", [None, "", "\n", "# nothing pinned\n", "version: 1\npins: {}\n"])
def test_an_absent_or_empty_pins_file_holds_no_pin(text: str | None) -> None:
    assert parse_pins(text) == {}


def test_pins_written_are_read_back_exactly_keyed_by_repository_and_service() -> None:
    text = render_pins([PAYMENTS, OTHER, CART])

    assert parse_pins(text) == {
        ("acme/shop", "cart"): CART,
        ("acme/shop", "payments"): PAYMENTS,
        ("acme/bank", "cart"): OTHER,
    }


def test_the_file_says_what_it_is_and_is_no_kubernetes_object() -> None:
    text = render_pins([CART])
    data = yaml.safe_load(text)

    assert text.startswith(HEADER) and "shipline unpin SERVICE" in text
    assert "apiVersion" not in data and "kind" not in data
    assert data["pins"]["acme/shop"]["cart"] == {
        "image": "reg/cart:sha-1111111",
        "by": "ops@example.com",
        "run_id": "run-rb",
        "since": "2025-12-06T05:46:40Z",
    }


def test_a_pin_added_by_hand_with_only_its_image_holds() -> None:
    text = "pins:\n  acme/shop:\n    cart:\n      image: reg/cart:v0.9.0\n"

    pin = parse_pins(text)[("acme/shop", "cart")]

    assert (pin.image, pin.by, pin.run_id, pin.since) == ("reg/cart:v0.9.0", "", "", 0.0)


def test_an_unquoted_timestamp_written_by_hand_is_read() -> None:
    text = "pins:\n  acme/shop:\n    cart:\n      image: x:1\n      since: 2025-12-06T05:46:40Z\n"

    assert parse_pins(text)[("acme/shop", "cart")].since == 1_765_000_000


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("pins: [cart]\n", "pins: Input should be a valid dictionary"),
        ("pins:\n  acme/shop:\n    cart:\n      imgae: x:1\n", "pins.acme/shop.cart.image"),
        ("pins:\n  acme/shop:\n    cart:\n      image: ''\n", "pins.acme/shop.cart.image"),
        ("pins: {\n", "is not YAML"),
        ("- cart\n", "(file)"),
    ],
)
def test_a_pins_file_that_cannot_be_read_is_refused_saying_where(text: str, says: str) -> None:
    with pytest.raises(PinsFileError, match="^.shipline-gitops/pins.yaml on main") as refused:
        parse_pins(text, ".shipline-gitops/pins.yaml on main")
    assert says in str(refused.value)


def test_adding_a_pin_replaces_the_services_earlier_one_and_keeps_the_others() -> None:
    text = render_pins([CART, OTHER])
    newer = Pin("acme/shop", "cart", "reg/cart:sha-0000000", "ada", "run-rb9", 1_765_000_900)

    pins = parse_pins(with_pin(text, newer))

    assert pins == {("acme/shop", "cart"): newer, ("acme/bank", "cart"): OTHER}


def test_removing_a_pin_returns_it_and_leaves_the_other_repositories_pin() -> None:
    text, removed = without_pin(render_pins([CART, OTHER]), "acme/shop", "cart")

    assert removed == CART
    assert parse_pins(text) == {("acme/bank", "cart"): OTHER}
    assert without_pin(text, "acme/shop", "cart")[1] is None


def test_two_pins_are_the_same_when_only_their_time_differs() -> None:
    later = Pin(CART.repository, CART.service, CART.image, CART.by, CART.run_id, CART.since + 60)

    assert same_pin(CART, later) and same_pin(None, None)
    assert not same_pin(CART, PAYMENTS) and not same_pin(CART, None)

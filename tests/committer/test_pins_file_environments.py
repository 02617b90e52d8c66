"""The pins file's pins per environment: pure, no git. An entry under `pins:` is the first
environment's (what every file written before environments means); a later environment's
pins live under `environments:`."""

from __future__ import annotations

import pytest

from services.committer.pins_file import (
    PinsFileError,
    all_pins,
    parse_pins,
    render_pins,
    with_pin,
    without_pin,
)
from services.common.pins import Pin

CART = Pin("acme/shop", "cart", "reg/cart:sha-1111111", "ops", "run-rb", 1_765_000_000)
CART_PROD = Pin(
    "acme/shop", "cart", "reg/cart:sha-0000000", "ada", "run-rb2", 1_765_000_100, "production"
)

WRITTEN_BEFORE_ENVIRONMENTS = """\
version: 1
pins:
  acme/shop:
    cart:
      image: reg/cart:sha-1111111
      by: ops
      run_id: run-rb
      since: '2025-12-06T05:46:40Z'
"""


def test_a_pins_file_written_before_environments_pins_the_first_environment_only() -> None:
    assert parse_pins(WRITTEN_BEFORE_ENVIRONMENTS) == {("acme/shop", "cart"): CART}
    assert parse_pins(WRITTEN_BEFORE_ENVIRONMENTS, environment="production") == {}


def test_without_a_later_environments_pin_the_file_is_written_as_before() -> None:
    text = render_pins([CART])

    assert "environments" not in text
    assert text.endswith(WRITTEN_BEFORE_ENVIRONMENTS)


def test_a_pin_in_production_is_added_beside_stagings_and_read_back_in_its_environment() -> None:
    text = with_pin(WRITTEN_BEFORE_ENVIRONMENTS, CART_PROD)

    assert parse_pins(text) == {("acme/shop", "cart"): CART}
    assert parse_pins(text, environment="production") == {("acme/shop", "cart"): CART_PROD}
    assert sorted(all_pins(text), key=lambda p: p.environment) == [CART, CART_PROD]
    assert "environments:\n  production:\n    acme/shop:\n      cart:\n" in text


def test_an_unpin_in_production_leaves_stagings_pin() -> None:
    text = with_pin(WRITTEN_BEFORE_ENVIRONMENTS, CART_PROD)

    left, removed = without_pin(text, "acme/shop", "cart", environment="production")

    assert removed == CART_PROD
    assert all_pins(left) == [CART]
    assert without_pin(left, "acme/shop", "cart", environment="production")[1] is None


@pytest.mark.parametrize(
    "environment",
    ["../production", "Production", "prod uction", "-production", "x" * 64, "'prod\\nShipline'"],
)
def test_a_pins_file_naming_a_hostile_environment_is_refused_whole(environment: str) -> None:
    text = WRITTEN_BEFORE_ENVIRONMENTS + (
        f"environments:\n  {environment}:\n    acme/shop:\n      cart:\n        image: reg/cart:x\n"
    )

    with pytest.raises(PinsFileError, match="cannot be read: environments"):
        parse_pins(text, "pins.yaml on main")

"""The api_tokens setting: plain strings as before, or entries with scopes and a name."""

from __future__ import annotations

import pytest

from services.common.errors import ConfigError
from services.common.settings import Settings, load_settings

TOKEN = "a-token-of-twenty-chars-0123"


def test_a_plain_string_is_a_token_that_reads_and_writes():
    (entry,) = Settings(api_tokens=[TOKEN]).api_tokens

    assert entry.token.get_secret_value() == TOKEN
    assert entry.scopes == ("read", "write")
    assert entry.allows("write")


def test_an_entry_names_its_token_and_limits_it_to_reading():
    (entry,) = Settings(
        api_tokens=[{"token": TOKEN, "scopes": ["read"], "name": "prometheus"}]
    ).api_tokens

    assert (entry.name, entry.scopes, entry.allows("write")) == ("prometheus", ("read",), False)
    assert TOKEN not in repr(entry)


def test_a_token_that_writes_without_reading_is_refused_with_what_to_write():
    with pytest.raises(ConfigError, match=r"must include read: \[read\] for a reader"):
        load_settings(api_tokens=[{"token": TOKEN, "scopes": ["write"]}])


def test_two_tokens_with_one_name_are_refused():
    with pytest.raises(ConfigError, match=r"names must be distinct: \['ci'\]"):
        load_settings(
            api_tokens=[{"token": TOKEN, "name": "ci"}, {"token": TOKEN + "x", "name": "ci"}]
        )


def test_reads_are_private_unless_public_read_is_set():
    assert Settings().public_read is False
    assert Settings(public_read=True).public_read is True

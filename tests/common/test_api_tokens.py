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


def test_a_scope_outside_the_allowed_forms_is_refused_naming_the_key_and_the_forms():
    for wrong in ("promote:Production", "ship", "deploy:", "read:staging", "promote:a:b"):
        with pytest.raises(ConfigError) as refused:
            load_settings(api_tokens=[{"token": TOKEN, "scopes": ["read", wrong]}])
        message = str(refused.value)
        assert "api_tokens.0.scopes.1" in message, message
        assert f"{wrong!r} is not a scope" in message
        assert "<action>:<environment>" in message
        assert TOKEN not in message


def test_an_environment_scope_allows_its_action_in_that_environment_only():
    (entry,) = Settings(
        api_tokens=[{"token": TOKEN, "scopes": ["read", "promote:staging", "deploy"]}]
    ).api_tokens

    assert entry.may("promote", "staging")
    assert not entry.may("promote", "production")
    assert not entry.may("promote", None)  # no environment known: only `promote` covers it
    assert entry.may("deploy", "production") and entry.may("deploy", None)
    assert not entry.may("rollback", "staging")
    assert not entry.allows("write")


def test_an_environment_no_repository_has_is_valid_and_simply_never_matches():
    (entry,) = Settings(api_tokens=[{"token": TOKEN, "scopes": ["read", "promote:qa"]}]).api_tokens

    assert [entry.may("promote", env) for env in ("staging", "production", None)] == [False] * 3


@pytest.mark.parametrize("scopes", [["read", "write"], ["admin"], ["read", "admin"]])
def test_write_and_admin_may_do_every_action_everywhere(scopes):
    (entry,) = Settings(api_tokens=[{"token": TOKEN, "scopes": scopes}]).api_tokens

    assert entry.allows("read") and entry.allows("write")
    for action in ("deploy", "promote", "rollback"):
        assert entry.may(action, "production") and entry.may(action, None)


def test_a_plain_string_token_still_may_do_everything():
    (entry,) = Settings(api_tokens=[TOKEN]).api_tokens

    assert entry.allows("write") and entry.may("promote", "production")

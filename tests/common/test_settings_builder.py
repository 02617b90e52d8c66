"""The builder's settings: timeout, cache source, insecure registries, concurrency cap."""

import pytest

from services.common.errors import ConfigError
from services.common.settings import load_settings

pytestmark = pytest.mark.usefixtures("no_shipline_environment")


def test_builder_defaults_cache_from_the_previous_image_and_time_out_within_the_visibility():
    settings = load_settings()

    assert settings.builder.timeout_seconds == 600 < settings.visibility_timeout
    assert settings.builder.cache_from is True
    assert settings.builder.insecure_registries == []
    assert settings.stage_concurrency("builder") == 2


def test_builder_settings_come_from_nested_environment_variables(monkeypatch):
    monkeypatch.setenv("SHIPLINE_BUILDER__TIMEOUT_SECONDS", "600")
    monkeypatch.setenv("SHIPLINE_BUILDER__CACHE_FROM", "false")
    monkeypatch.setenv("SHIPLINE_BUILDER__INSECURE_REGISTRIES", '["registry.lan:5000"]')
    monkeypatch.setenv("SHIPLINE_CONCURRENCY", '{"builder": 8}')

    settings = load_settings()

    assert settings.builder.timeout_seconds == 600
    assert settings.builder.cache_from is False
    assert settings.builder.insecure_registries == ["registry.lan:5000"]
    assert settings.stage_concurrency("builder") == 8


@pytest.mark.parametrize(
    ("variable", "value", "key"),
    [
        ("SHIPLINE_BUILDER__TIMEOUT_SECONDS", "0", "builder.timeout_seconds"),
        ("SHIPLINE_CONCURRENCY", '{"builder": 0}', "concurrency.builder"),
    ],
)
def test_a_build_timeout_or_concurrency_below_one_is_refused_naming_the_key(
    monkeypatch, variable, value, key
):
    monkeypatch.setenv(variable, value)

    with pytest.raises(ConfigError, match=key):
        load_settings()

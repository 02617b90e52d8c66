"""A typo'd key is answered with the closest valid one, in shipline.yaml and server settings."""

from __future__ import annotations

import pytest

from services.common.errors import ConfigError
from services.common.project import parse_project
from services.common.settings import load_settings


def test_a_typo_in_a_shipline_yaml_key_names_the_key_it_probably_is() -> None:
    text = "registry: r.example.com/a\nservices:\n  web:\n    path: web\n    dockerfil: web/D\n"

    with pytest.raises(ConfigError) as raised:
        parse_project(text)

    assert str(raised.value) == (
        "shipline.yaml: services.web.dockerfil: Extra inputs are not permitted; "
        "did you mean 'dockerfile'?"
    )


def test_a_typo_nested_in_a_helm_section_is_answered_from_that_section() -> None:
    text = "registry: r.example.com/a\nservices:\n  web:\n    path: web\n    helm: {tagg: x}\n"

    with pytest.raises(ConfigError, match=r"services.web.helm.tagg: .*did you mean 'tag'\?"):
        parse_project(text)


def test_a_key_like_no_other_gets_no_guess() -> None:
    text = "registry: r.example.com/a\nservices:\n  web:\n    path: web\n    zzzzzz: 1\n"

    with pytest.raises(ConfigError) as raised:
        parse_project(text)

    assert "did you mean" not in str(raised.value)


def test_a_typo_in_the_server_settings_gets_a_suggestion_too(monkeypatch, tmp_path) -> None:
    config = tmp_path / "server.yaml"
    config.write_text(
        "redis_urll: redis://localhost:6379/0\n"
        "notifications: [{type: slack, urll: 'https://hooks.example.com/x'}]\n"
    )
    monkeypatch.setenv("SHIPLINE_CONFIG", str(config))

    with pytest.raises(ConfigError) as raised:
        load_settings()

    assert "redis_urll: Extra inputs are not permitted; did you mean 'redis_url'?" in str(
        raised.value
    )
    assert "notifications.0.slack.urll: Extra inputs are not permitted; did you mean 'url'?" in (
        str(raised.value)
    )

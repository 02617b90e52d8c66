"""Timeouts consistent by construction: the visibility timeout outlasts every stage's longest
task with a margin, and grace periods follow from the same numbers."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.common.errors import ConfigError
from services.common.settings import load_settings
from services.common.timeouts import grace_seconds, task_bounds, visibility_needed

pytestmark = pytest.mark.usefixtures("no_shipline_environment")


def _refusal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, yaml_text: str) -> str:
    config = tmp_path / "server.yaml"
    config.write_text(yaml_text)
    monkeypatch.setenv("SHIPLINE_CONFIG", str(config))
    with pytest.raises(ConfigError) as refused:
        load_settings()
    return str(refused.value)


def test_the_defaults_fit_the_longest_task_a_build_in_the_visibility_timeout() -> None:
    settings = load_settings()

    [longest, *_] = task_bounds(settings)

    assert (longest.stage, longest.seconds) == ("builder", 600)
    assert visibility_needed(600) == 720 <= settings.visibility_timeout == 900


def test_a_visibility_timeout_below_the_build_timeout_is_refused_naming_keys_and_numbers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    problem = _refusal(tmp_path, monkeypatch, "visibility_timeout: 700\n")

    assert "visibility_timeout (700)" in problem
    assert "builder.timeout_seconds (600) needs 720" in problem
    assert "at least 720" in problem


def test_every_task_that_outlasts_the_visibility_timeout_is_named_longest_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    problem = _refusal(
        tmp_path,
        monkeypatch,
        "visibility_timeout: 400\nbuilder:\n  timeout_seconds: 300\n"
        "scanner:\n  timeout_seconds: 350\n",
    )

    assert problem.index("committer.lock_wait_seconds (300) + 6 push rounds (120) needs 504") < (
        problem.index("scanner.timeout_seconds (350) needs 420")
    )
    assert "builder" not in problem  # 300 s and its margin fit in 400
    assert "at least 504" in problem


def test_the_committers_lock_wait_counts_with_its_push_rounds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    problem = _refusal(
        tmp_path, monkeypatch, "visibility_timeout: 900\ncommitter:\n  lock_wait_seconds: 700\n"
    )

    assert "committer.lock_wait_seconds (700) + 6 push rounds (120) needs 984" in problem


def test_a_verification_deadline_and_the_notification_channels_are_tasks_too() -> None:
    cluster = {"name": "prod", "in_cluster": True, "namespaces": ["shop"]}
    settings = load_settings(
        clusters=[cluster, {**cluster, "name": "slow", "deadline_seconds": 700}],
        notifications=[
            {"type": "log"},
            {"type": "webhook", "url": "https://hooks.example.com/a", "timeout_seconds": 20},
            {"type": "webhook", "url": "https://hooks.example.com/b", "timeout_seconds": 25},
        ],
        visibility_timeout=900,
    )

    bounds = {bound.stage: bound for bound in task_bounds(settings)}

    assert bounds["verifier"].source == "clusters.1.deadline_seconds (700)"
    assert bounds["notifier"].seconds == 45
    with pytest.raises(ConfigError, match=r"clusters.1.deadline_seconds \(700\) needs 840"):
        load_settings(clusters=settings.clusters, visibility_timeout=800)


def test_short_tasks_still_get_a_margin_of_ten_seconds() -> None:
    assert visibility_needed(5) == 15
    assert visibility_needed(100) == 120


def test_a_grace_period_is_the_stages_longest_task_and_the_shutdown() -> None:
    settings = load_settings()

    assert grace_seconds(settings, "builder") == 630
    assert grace_seconds(settings, "committer") == 450
    assert grace_seconds(settings, "scanner") == 330
    assert grace_seconds(settings, "detector") == 30  # no configured bound: the shutdown only
    assert grace_seconds(settings, "gateway") == 30  # preStop, drain, uvicorn's last wait


def test_a_short_visibility_timeout_may_be_allowed_in_dev_but_never_in_prod() -> None:
    short = {"visibility_timeout": 5, "retry": {"max_delay_seconds": 2}}
    assert load_settings(allow_short_visibility_timeout=True, **short).visibility_timeout == 5
    with pytest.raises(ConfigError, match="refused with env: prod"):
        load_settings(
            env="prod",
            allow_short_visibility_timeout=True,
            api_tokens=["a-long-random-api-token-1"],
            redis_url="redis://:a-long-random-redis-password@127.0.0.1:6379/0",
            **short,
        )

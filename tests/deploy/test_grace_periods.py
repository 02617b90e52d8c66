"""Grace periods follow from the settings they ship with: every rendered Deployment lets its
stage's longest task (computed from the overlay's own config.yaml, services/common/
timeouts.py) finish before Kubernetes kills the pod, and the gateway drains behind a
preStop sleep."""

from __future__ import annotations

import os
from typing import Any

import pytest

from services.common.settings import STAGES, Settings
from services.common.timeouts import (
    GATEWAY_PRESTOP_SECONDS,
    grace_seconds,
    task_bounds,
    visibility_needed,
)
from tests.deploy.manifests import Obj, container, of_kind, server_config


@pytest.fixture
def settings(objects: list[Obj], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The rendered config.yaml as the pods read it, its timeouts only: secrets are not
    rendered (prod) and play no part in them, so it is read as env: dev."""
    for key in [key for key in os.environ if key.startswith("SHIPLINE_")]:
        monkeypatch.delenv(key)
    config: dict[str, Any] = server_config(objects) | {"env": "dev"}
    return Settings(**config)


def _grace(objects: list[Obj], name: str) -> int:
    spec = of_kind(objects, "Deployment")[name]["spec"]["template"]["spec"]
    return int(spec["terminationGracePeriodSeconds"])


@pytest.mark.parametrize("stage", STAGES)
def test_each_workers_grace_period_covers_its_longest_task_in_the_rendered_settings(
    objects: list[Obj], settings: Settings, stage: str
) -> None:
    grace = _grace(objects, f"shipline-{stage}")

    assert grace >= grace_seconds(settings, stage), (stage, task_bounds(settings))


def test_the_committers_grace_covers_the_branch_lock_wait_and_its_push_rounds(
    objects: list[Obj], settings: Settings
) -> None:
    assert settings.committer.lock_wait_seconds == 300
    assert _grace(objects, "shipline-committer") >= 300 + 120 + 30


def test_the_rendered_visibility_timeout_outlasts_every_task_but_not_by_much(
    settings: Settings,
) -> None:
    needed = visibility_needed(task_bounds(settings)[0].seconds)

    # Also how long the task of a vanished worker waits: not 40 minutes.
    assert needed <= settings.visibility_timeout <= 2 * needed


def test_the_gateway_sleeps_before_it_drains_and_its_grace_covers_both(
    objects: list[Obj], settings: Settings
) -> None:
    box = container(of_kind(objects, "Deployment")["shipline-gateway"])

    assert box["lifecycle"]["preStop"]["exec"]["command"] == [
        "sleep",
        str(GATEWAY_PRESTOP_SECONDS),
    ]
    assert _grace(objects, "shipline-gateway") >= grace_seconds(settings, "gateway")

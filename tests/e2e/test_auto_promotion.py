"""`approval: auto` through the running stack: staging takes every push, production (no
cluster) takes what landed in staging by itself, with no API call, now or after its soak."""

from __future__ import annotations

import time
from typing import Any

import git

from services.demo.scenario import Push
from tests.e2e.test_environments import commit_and_push, overlay, split_by_environment
from tests.stack import Stack, sample_stack

AUTO = """\
environments:
  - name: staging
  - name: production
    from: staging
    approval: auto
"""


# the suite's stack, its reconciler passing every second (it starts soaked promotions)
auto_stack = sample_stack("auto-promotion", lambda sample: {"reconciler": {"period_seconds": 1}})


def with_auto_production(stack: Stack, environments: str) -> Push:
    """The sample moved to staging and production overlays, production `approval: auto`."""
    files = split_by_environment(stack.sample, environments)
    return commit_and_push(stack, files, "chore: staging, and production by itself")


def production_image(stack: Stack, image: str, timeout: float) -> float | None:
    """Seconds until production's user-service overlay holds `image` (None: not in time)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if f"image: {image}" in stack.sample.remote_file(overlay("production", "user-service")):
            return time.monotonic() - start
        time.sleep(0.2)
    return None


def auto_runs(stack: Stack) -> list[dict[str, Any]]:
    runs = stack.get("/api/v1/runs?service=user-service&limit=100", timeout=5).json()["runs"]
    return [run for run in runs if run["run_id"].startswith("auto-")]


def message_of(stack: Stack, commit: str) -> str:
    with git.Repo(stack.sample.remote) as repo:
        return str(repo.commit(commit).message)


def test_a_push_lands_in_staging_and_production_takes_the_same_image_by_itself(
    auto_stack: Stack,
) -> None:
    stack = auto_stack
    staged = stack.deploy(with_auto_production(stack, AUTO))
    image = staged["services"]["user-service"]["image"]

    assert production_image(stack, image, timeout=60) is not None
    [run] = auto_runs(stack)
    finished = stack.wait_for_run(run["run_id"])
    assert finished["status"] == "succeeded", finished
    assert finished["trigger"] == "promotion"
    assert finished["services"]["user-service"]["image"] == image
    promoted = finished["services"]["user-service"]
    digest = staged["services"]["user-service"]["digest"]
    message = message_of(stack, promoted["gitops_commit"])
    assert message.startswith("promote(production): user-service from staging [skip ci]")
    assert "shipline (auto-promotion)" in message
    assert f"user-service {stack.sample.name}@{staged['commit']} in production" in message
    assert f"- user-service: {image} ({digest}) built from" in message  # what staging ran

    time.sleep(2)  # production's own commit promotes nothing further, nor twice
    assert [r["run_id"] for r in auto_runs(stack)] == [run["run_id"]]


def test_with_a_soak_production_waits_before_it_takes_what_staging_runs(
    auto_stack: Stack,
) -> None:
    stack, sample = auto_stack, auto_stack.sample
    soaked = sample.remote_file("shipline.yaml").replace(
        "    approval: auto\n", "    approval: auto\n    soak_seconds: 3\n", 1
    )
    commit_and_push(stack, {"shipline.yaml": soaked}, "chore: production soaks 3 s")
    promoted_before = {r["run_id"] for r in auto_runs(stack)}
    change = sample.append("user_service/app.txt", "Soaked first.", "feat(user): soaked")
    staged = stack.deploy(change)
    image = staged["services"]["user-service"]["image"]
    landed = staged["services"]["user-service"]["gitops_commit"]

    assert production_image(stack, image, timeout=0.5) is None  # soaking
    assert production_image(stack, image, timeout=60) is not None
    [run] = [r for r in auto_runs(stack) if r["run_id"] not in promoted_before]
    with git.Repo(sample.remote) as repo:
        landed_at = repo.commit(landed).committed_date
    finished = stack.wait_for_run(run["run_id"])
    assert finished["status"] == "succeeded", finished
    assert finished["services"]["user-service"]["image"] == image
    assert finished["created_at"] - landed_at >= 2  # 3 s after the landing (git: whole seconds)

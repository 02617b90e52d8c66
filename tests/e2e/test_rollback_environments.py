"""A rollback in production through the running stack: `shipline rollback -e production`
puts production back on the image it ran before and pins it there only; staging keeps
deploying pushes, a promotion into production is refused (409) until `shipline unpin -e
production`, and then goes through."""

from __future__ import annotations

import yaml

from tests.e2e.test_environments import overlay
from tests.e2e.test_promotion import promote, shipline, with_environments
from tests.stack import Stack

SERVICE = "user-service"


def promoted(stack: Stack) -> str:
    """What staging runs promoted to production: the image."""
    asked = promote(stack, {"service": SERVICE, "to": "production"})
    assert asked.status_code == 202, asked.text
    run = stack.wait_for_run(asked.json()["run_id"])
    assert run["status"] == "succeeded", run
    return str(run["services"][SERVICE]["image"])


def test_a_rollback_in_production_holds_production_only_until_unpinned_there(
    stack: Stack,
) -> None:
    sample = stack.sample
    first = with_environments(stack)["services"][SERVICE]["image"]
    assert promoted(stack) == first
    change = sample.append("user_service/app.txt", "Second.", "feat(user): second")
    second = stack.deploy(change)["services"][SERVICE]["image"]
    assert promoted(stack) == second

    code, output = shipline(stack, "rollback", SERVICE, "-e", "production", "--wait", "180")

    assert code == 0, output
    assert f"{SERVICE} is pinned in production" in output
    assert f"image: {first}" in sample.remote_file(overlay("production", SERVICE))
    assert f"image: {second}" in sample.remote_file(overlay("staging", SERVICE))
    pins = yaml.safe_load(sample.remote_file(".shipline-gitops/pins.yaml"))
    assert pins["pins"] == {}
    assert pins["environments"]["production"][sample.name][SERVICE]["image"] == first

    change = sample.append("user_service/app.txt", "Third.", "feat(user): third")
    third = stack.deploy(change)["services"][SERVICE]
    assert third["status"] == "succeeded", third  # staging is not held by production's pin
    assert f"image: {third['image']}" in sample.remote_file(overlay("staging", SERVICE))
    refused = promote(stack, {"service": SERVICE, "to": "production"})
    assert refused.status_code == 409, refused.text
    assert f"{SERVICE} is pinned in production" in refused.json()["error"]["reason"]

    code, output = shipline(stack, "unpin", SERVICE, "-e", "production", "--wait", "180")

    assert code == 0, output
    assert f"{SERVICE} unpinned in production" in output
    assert promoted(stack) == third["image"]
    assert f"image: {third['image']}" in sample.remote_file(overlay("production", SERVICE))

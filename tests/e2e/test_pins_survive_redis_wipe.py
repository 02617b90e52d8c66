"""A rollback's pin lives in the gitops repository, so it holds after Redis lost every key:
through a running `shipline up`, a service rolled back, then FLUSHALL, then a push to it is
held (the manifest keeps the rolled-back image), and `shipline unpin` (a commit) lets the
next push deploy."""

from __future__ import annotations

from typing import Any

import git
import httpx
import pytest
import yaml
from click.testing import CliRunner

from services.cli import main
from services.committer.pins_file import PINS_FILE
from services.demo.scenario import Push
from tests.stack import API_TOKEN, Stack

pytestmark = pytest.mark.integration  # FLUSHALL on the session's Redis

USER = "user-service"
MANIFEST = "k8s/manifests/user-service/deployment.yaml"


def shipline(stack: Stack, *args: str) -> tuple[int, str]:
    env = {"SHIPLINE_URL": stack.api, "SHIPLINE_TOKEN": API_TOKEN}
    result = CliRunner().invoke(main, list(args), env=env)
    return result.exit_code, result.output


def pushed(stack: Stack, line: str) -> tuple[Push, str]:
    """The push of a change to user-service, and its run."""
    push = stack.sample.append("user_service/app.txt", line, f"feat(user): {line.lower()}")
    response = stack.push_webhook(push)
    assert response.status_code == 202, response.text
    return push, str(response.json()["run_id"])


def files_of_head(stack: Stack) -> set[str]:
    with git.Repo(stack.sample.remote) as repo:
        return set(repo.commit("main").stats.files)


def pins_in_git(stack: Stack) -> dict[str, Any]:
    return dict(yaml.safe_load(stack.sample.remote_file(PINS_FILE))["pins"])


def test_a_pinned_service_is_still_held_after_redis_lost_everything_until_unpinned(
    stack: Stack,
) -> None:
    deployed = stack.wait_for_run(pushed(stack, "Before the rollback.")[1])
    assert deployed["status"] == "succeeded", deployed
    rollback = httpx.post(
        f"{stack.api}/api/v1/rollbacks", json={"service": USER}, headers=stack.auth, timeout=60
    )
    assert rollback.status_code == 202, rollback.text
    rolled = stack.wait_for_run(rollback.json()["run_id"])
    assert rolled["status"] == "succeeded", rolled
    restored = rolled["services"][USER]["image"]
    assert files_of_head(stack) == {MANIFEST, PINS_FILE}  # one commit: manifest and pin
    assert pins_in_git(stack)[stack.sample.name][USER]["image"] == restored

    stack.redis.flushall()
    assert stack.redis.dbsize() == 0

    push, run_id = pushed(stack, "After the wipe.")
    held = stack.wait_for_run(run_id)

    assert held["status"] == "held", held
    assert f"pinned to {restored}" in held["services"][USER]["reason"]
    assert f"image: {restored}" in stack.sample.remote_file(MANIFEST)
    assert stack.sample.remote_head().hexsha == push.after  # nothing committed since
    pin = stack.get(f"/api/v1/services/{USER}/pin").json()  # the cache, refilled from git
    assert pin["pinned"] is True and pin["pin"]["image"] == restored, pin

    code, output = shipline(stack, "unpin", USER, "--wait", "120")

    assert code == 0, output
    assert f"{USER} unpinned (was {restored}); automatic deploys resume" in output
    assert stack.sample.remote_head().message.startswith(f"chore({USER}): unpin {restored}")
    assert pins_in_git(stack) == {}
    released = stack.wait_for_run(pushed(stack, "After the unpin.")[1])
    assert released["status"] == "succeeded", released
    new_image = released["services"][USER]["image"]
    assert new_image != restored
    assert f"image: {new_image}" in stack.sample.remote_file(MANIFEST)

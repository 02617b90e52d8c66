"""Promotion by hand through the running stack: staging (every push) then production
(`approval: manual`), as `POST /api/v1/promotions` and `shipline promote` ask for it."""

from __future__ import annotations

from typing import Any

import git
import httpx
from click.testing import CliRunner

from services.cli import main
from tests.e2e.test_environments import (
    ENVIRONMENTS,
    commit_and_push,
    overlay,
    split_by_environment,
)
from tests.stack import API_TOKEN, Stack


def promote(stack: Stack, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{stack.api}/api/v1/promotions", json=body, headers=stack.auth, timeout=10)


def message_of(stack: Stack, commit: str) -> str:
    with git.Repo(stack.sample.remote) as repo:
        return str(repo.commit(commit).message)


def shipline(stack: Stack, *args: str) -> tuple[int, str]:
    env = {"SHIPLINE_URL": stack.api, "SHIPLINE_TOKEN": API_TOKEN}
    result = CliRunner().invoke(main, list(args), env=env)
    return result.exit_code, result.output


def with_environments(stack: Stack) -> dict[str, Any]:
    """The sample moved to staging and production overlays, and that push deployed (to
    staging): its run."""
    files = split_by_environment(stack.sample, ENVIRONMENTS)
    return stack.deploy(commit_and_push(stack, files, "chore: staging and production"))


def test_what_staging_runs_is_promoted_to_production_by_the_api_and_the_cli(
    stack: Stack,
) -> None:
    sample = stack.sample
    staged = with_environments(stack)
    image = staged["services"]["user-service"]["image"]
    by_hand = sample.remote_file(overlay("staging", "frontend")).replace(":sha-", ":by-hand-", 1)
    commit_and_push(stack, {overlay("staging", "frontend"): by_hand}, "chore: frontend by hand")

    asked = promote(stack, {"service": "user-service", "to": "production", "reason": "soaked"})

    assert asked.status_code == 202, asked.text
    run = stack.wait_for_run(asked.json()["run_id"])
    assert run["status"] == "succeeded", run
    assert run["trigger"] == "promotion"
    promoted = run["services"]["user-service"]
    assert promoted["image"] == image
    production = sample.remote_file(
        overlay("production", "user-service"), promoted["gitops_commit"]
    )
    assert f"image: {image}" in production
    message = message_of(stack, promoted["gitops_commit"])
    assert message.startswith("promote(production): user-service from staging [skip ci]")
    commit = staged["commit"]
    assert f"Shipline-Deployed: user-service {sample.name}@{commit} in production" in message
    assert "Shipline-Request: " in message
    digest = staged["services"]["user-service"]["digest"]
    assert digest.startswith("sha256:")
    assert f"- user-service: {image} ({digest}) built from" in message  # what staging ran

    again = promote(stack, {"services": ["user-service"], "to": "production"})

    assert again.status_code == 200, again.text
    assert again.json()["queued"] is False
    assert again.json()["images"] == {"user-service": image}

    unknown = promote(stack, {"service": "user-service", "to": "qa"})
    first = promote(stack, {"service": "user-service", "to": "staging"})
    never = promote(stack, {"service": "frontend", "to": "production"})

    assert unknown.status_code == 422, unknown.text
    assert "no environment 'qa'" in unknown.json()["error"]["reason"]
    assert first.status_code == 422, first.text
    assert "staging is the first environment" in first.json()["error"]["reason"]
    assert never.status_code == 409, never.text
    reason = never.json()["error"]["reason"]
    assert "staging runs nothing promotable for frontend" in reason
    assert "is not a Shipline deploy of frontend to staging" in reason

    code, output = shipline(stack, "promote", "user-service", "--to", "production")

    assert code == 0, output
    assert output.strip() == "production already runs what staging runs: nothing to promote"

    change = sample.append("user_service/app.txt", "Promoted by the CLI.", "feat(user): cli")
    newer = stack.deploy(change)["services"]["user-service"]["image"]
    code, output = shipline(stack, "promote", "user-service", "--to", "production", "--wait", "180")

    assert code == 0, output
    assert "promoting user-service to production" in output
    assert f"user-service: succeeded {newer}" in output
    assert f"image: {newer}" in sample.remote_file(overlay("production", "user-service"))

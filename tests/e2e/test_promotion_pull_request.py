# ruff: noqa: F811 (the fixtures imported from tests/githost/hosted_stack.py)
"""Promotion by pull request through the running stack: production with `approval:
pull-request` on a repository whose `host:` is a loopback GitHub checked against GitHub's
published OpenAPI description; the merge or the close comes back as a signed `pull_request`
webhook made from GitHub's published webhook schemas."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import git
import httpx
import pytest
from click.testing import CliRunner

from services.cli import main
from services.demo.scenario import DEVELOPER
from services.devenv.webhook_descriptions import github_webhooks
from services.gateway.github import sign
from tests.e2e.test_environments import commit_and_push, overlay, split_by_environment
from tests.githost.fake_github import FakeGitHub
from tests.githost.hosted_stack import (  # noqa: F401 (fixtures)
    github_description,
    github_host,
    hosted_stack,
)
from tests.githost.webhook_payloads import WebhookSchemas
from tests.stack import API_TOKEN, WEBHOOK_SECRET, Stack

BRANCH = "shipline/promote-production"
ENVIRONMENTS = """\
environments:
  - name: staging
  - name: production
    from: staging
    approval: pull-request
"""


@pytest.fixture(scope="module")
def schemas(devenv_state_dir: Path) -> WebhookSchemas:
    return WebhookSchemas(github_webhooks(devenv_state_dir))


def with_environments(stack: Stack) -> dict[str, Any]:
    """The sample moved to staging and production overlays, deployed to staging: its run."""
    files = split_by_environment(stack.sample, ENVIRONMENTS)
    return stack.deploy(commit_and_push(stack, files, "chore: staging and production"))


def promote(stack: Stack) -> str:
    body = {"service": "user-service", "to": "production"}
    asked = httpx.post(f"{stack.api}/api/v1/promotions", json=body, headers=stack.auth, timeout=10)
    assert asked.status_code == 202, asked.text
    return str(asked.json()["run_id"])


def awaiting_merge(stack: Stack, run_id: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    run: dict[str, Any] = {}
    while time.monotonic() < deadline:
        run = stack.get(f"/api/v1/runs/{run_id}", timeout=5).json()
        if run.get("services", {}).get("user-service", {}).get("status") == "awaiting-merge":
            return run
        time.sleep(0.3)
    raise AssertionError(f"run {run_id} never awaited its merge: {run}")


def merge_on_the_remote(stack: Stack) -> str:
    sample = stack.sample
    sample.pull()
    with git.Repo(sample.clone) as repo:
        repo.git.fetch("origin", BRANCH)
        with repo.git.custom_environment(
            GIT_COMMITTER_NAME=DEVELOPER.name, GIT_COMMITTER_EMAIL=DEVELOPER.email
        ):
            repo.git.merge("--no-ff", "FETCH_HEAD", "-m", "Merge pull request #1")
        repo.git.push("origin", "HEAD:refs/heads/main")
        return str(repo.head.commit.hexsha)


def closed_webhook(
    stack: Stack,
    schemas: WebhookSchemas,
    number: int,
    merged: bool,
    sha: str | None = None,
    secret: str = WEBHOOK_SECRET,
) -> httpx.Response:
    payload = schemas.payload(
        "webhook-pull-request-closed",
        {
            "action": "closed",
            "number": number,
            "pull_request": {
                "number": number,
                "merged": merged,
                "merge_commit_sha": sha,
                "head": {"ref": BRANCH},
                "base": {"ref": "main"},
            },
            "repository": {"full_name": stack.sample.name},
        },
    )
    body = json.dumps(payload).encode()
    headers = {
        "X-GitHub-Event": "pull_request",
        "X-GitHub-Delivery": f"pr-{number}-{merged}",
        "X-Hub-Signature-256": sign(secret, body),
        "Content-Type": "application/json",
    }
    return httpx.post(f"{stack.api}/webhooks/github", content=body, headers=headers, timeout=10)


def test_a_promotion_pull_request_merged_deploys_to_production_and_the_run_succeeds(
    hosted_stack: Stack, github_host: FakeGitHub, schemas: WebhookSchemas
) -> None:
    sample = hosted_stack.sample
    staged = with_environments(hosted_stack)
    image = staged["services"]["user-service"]["image"]
    production_before = sample.remote_head().hexsha

    run_id = promote(hosted_stack)
    waiting = awaiting_merge(hosted_stack, run_id)

    assert waiting["status"] == "awaiting-merge"
    assert sample.remote_head().hexsha == production_before  # main untouched until the merge
    assert f"image: {image}" in sample.remote_file(overlay("production", "user-service"), BRANCH)
    pull = github_host.store.pulls[1]
    assert (pull.title, pull.head, pull.state) == (
        "Promote user-service to production",
        BRANCH,
        "open",
    )
    assert pull.labels == ["shipline", "promotion"]

    forged = closed_webhook(
        hosted_stack, schemas, 1, True, "0" * 40, secret="not-the-secret-at-all"
    )
    assert forged.status_code == 401
    assert awaiting_merge(hosted_stack, run_id)["status"] == "awaiting-merge"

    merge = merge_on_the_remote(hosted_stack)
    github_host.store.merge(1, merge)
    answered = closed_webhook(hosted_stack, schemas, 1, merged=True, sha=merge)
    assert answered.status_code == 202, answered.text
    assert answered.json() == {"run_id": run_id, "merged": True}

    run = hosted_stack.wait_for_run(run_id)
    assert run["status"] == "succeeded", run
    promoted = run["services"]["user-service"]
    assert (promoted["gitops_commit"], promoted["image"]) == (merge, image)


def test_a_newer_promotion_supersedes_the_open_one_and_a_close_rejects_it(
    hosted_stack: Stack, github_host: FakeGitHub, schemas: WebhookSchemas
) -> None:
    sample = hosted_stack.sample
    pushed = sample.append("user_service/app.txt", "Tweak one.", "feat(user): tweak one")
    hosted_stack.deploy(pushed)
    env = {"SHIPLINE_URL": hosted_stack.api, "SHIPLINE_TOKEN": API_TOKEN}
    args = ["promote", "user-service", "--to", "production", "--wait", "120"]
    cli = CliRunner().invoke(main, args, env=env)
    assert cli.exit_code == 0, cli.output  # --wait ends once the request is open
    assert "awaiting the merge of https://github.example/" in cli.output, cli.output
    first = re.search(r"run (\S+) started", cli.output).group(1)  # type: ignore[union-attr]
    assert awaiting_merge(hosted_stack, first)["status"] == "awaiting-merge"
    pushed = sample.append("user_service/app.txt", "Tweak two.", "feat(user): tweak two")
    newer = hosted_stack.deploy(pushed)["services"]["user-service"]["image"]

    second = promote(hosted_stack)

    superseded = hosted_stack.wait_for_run(first)
    assert superseded["status"] == "superseded", superseded
    awaiting_merge(hosted_stack, second)
    [open_pull] = github_host.store.open_pulls()
    assert open_pull.number == 2 and f"`{newer}`" in open_pull.body
    assert "feat(user): tweak two" in open_pull.body and "feat(user): tweak one" in open_pull.body
    head_before = sample.remote_head().hexsha

    github_host.store.close(2)
    answered = closed_webhook(hosted_stack, schemas, 2, merged=False)

    assert answered.status_code == 202 and answered.json()["merged"] is False
    rejected = hosted_stack.wait_for_run(second)
    assert rejected["status"] == "rejected", rejected
    assert "closed without merging" in rejected["services"]["user-service"]["reason"]
    assert sample.remote_head().hexsha == head_before

# ruff: noqa: F811 (the fixtures imported from tests/githost/hosted_stack.py)
"""A release tag through the running stack whose repository names a `host:`: a loopback
GitHub, every request and answer checked against GitHub's published OpenAPI description.
The run's completion publishes the tag's Release, with the release notes and every
service's image at its digest, and the run records its page."""

from __future__ import annotations

import time
from typing import Any

import git
from click.testing import CliRunner

from services.cli import main
from services.common.events import ZERO_SHA
from services.demo.scenario import Push
from tests.githost.fake_github import FakeGitHub
from tests.githost.hosted_stack import (  # noqa: F401 (fixtures)
    github_description,
    github_host,
    hosted_stack,
)
from tests.stack import API_TOKEN, Stack

TAG = "v3.1.0"


def test_a_release_tag_publishes_its_release_with_notes_and_digests_on_the_git_host(
    hosted_stack: Stack, github_host: FakeGitHub
) -> None:
    stack, sample = hosted_stack, hosted_stack.sample
    sample.pull()
    with git.Repo(sample.clone) as repo:
        repo.git.tag("-a", TAG, "-m", f"release {TAG}")
        repo.git.push("origin", f"refs/tags/{TAG}")
        tag_object = repo.git.rev_parse(TAG)

    response = stack.push_webhook(Push(ZERO_SHA, tag_object, f"refs/tags/{TAG}"))

    assert response.status_code == 202, response.text
    run_id = response.json()["run_id"]
    run = stack.wait_for_run(run_id)
    assert run["status"] == "succeeded", run
    run = wait_for_host_release(stack, run_id)
    assert run["host_release"] == f"https://github.example/{sample.name}/releases/tag/{TAG}"
    assert list(github_host.releases.store.releases) == [TAG]
    body = github_host.releases.store.releases[TAG].body
    assert run["release_notes"].startswith(f"## {TAG}")
    assert body.startswith(run["release_notes"].strip())
    assert set(run["services"]) == set(sample.services)
    for name, service in run["services"].items():
        assert f"**{name}**: `{service['image']}@{service['digest']}`" in body
    assert github_host.host.violations == []
    env = {"SHIPLINE_URL": stack.api, "SHIPLINE_TOKEN": API_TOKEN}
    watched = CliRunner().invoke(main, ["watch", run_id, "--timeout", "30"], env=env)
    assert f"release on the git host: {run['host_release']}" in watched.output, watched.output


def wait_for_host_release(stack: Stack, run_id: str, timeout: float = 60) -> dict[str, Any]:
    """The run once the notifier has recorded its Release (it publishes after notifying)."""
    deadline = time.monotonic() + timeout
    while True:
        run = stack.get(f"/api/v1/runs/{run_id}", timeout=30).json()
        if run.get("host_release") or time.monotonic() > deadline:
            return dict(run)
        time.sleep(0.5)

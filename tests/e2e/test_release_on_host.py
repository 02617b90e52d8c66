"""A release tag through the running stack whose repository names a `host:`: a loopback
GitHub, every request and answer checked against GitHub's published OpenAPI description.
The run's completion publishes the tag's Release, with the release notes and every
service's image at its digest, and the run records its page."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import git
import pytest
from click.testing import CliRunner

from services.cli import main
from services.common.events import ZERO_SHA
from services.demo.scenario import Push, SampleMonorepo
from services.devenv.api_descriptions import github_openapi
from services.devenv.registry import Registry
from tests.githost.conftest import TOKEN
from tests.githost.described import Description
from tests.githost.fake_github import FakeGitHub
from tests.stack import API_TOKEN, WEBHOOK_SECRET, Stack, fresh_stack

TAG = "v3.1.0"


@pytest.fixture(scope="module")
def github(devenv_state_dir: Path) -> Iterator[FakeGitHub]:
    fake = FakeGitHub(Description(github_openapi(devenv_state_dir))).start()
    yield fake
    fake.host.stop()


@pytest.fixture(scope="module")
def hosted_stack(
    tmp_path_factory: pytest.TempPathFactory,
    redis_url: str,
    docker_host: str,
    registry: Registry,
    base_image: str,
    trivy_path: Path,
    github: FakeGitHub,
) -> Iterator[Stack]:
    """The suite's stack, its repository entry naming the loopback GitHub as its host."""

    def hosted(sample: SampleMonorepo) -> dict[str, Any]:
        host = {"type": "github", "api_url": github.host.url, "token": TOKEN}
        entry = {"name": sample.name, "url": sample.url, "webhook_secret": WEBHOOK_SECRET}
        return {"repositories": [{**entry, "host": host}]}

    root = tmp_path_factory.mktemp("release-on-host")
    with fresh_stack(
        root, redis_url, docker_host, registry, base_image, trivy_path, hosted
    ) as stack:
        yield stack


def test_a_release_tag_publishes_its_release_with_notes_and_digests_on_the_git_host(
    hosted_stack: Stack, github: FakeGitHub
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
    assert list(github.releases.store.releases) == [TAG]
    body = github.releases.store.releases[TAG].body
    assert run["release_notes"].startswith(f"## {TAG}")
    assert body.startswith(run["release_notes"].strip())
    assert set(run["services"]) == set(sample.services)
    for name, service in run["services"].items():
        assert f"**{name}**: `{service['image']}@{service['digest']}`" in body
    assert github.host.violations == []
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

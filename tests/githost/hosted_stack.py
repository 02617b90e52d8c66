"""A real `shipline up` whose repository entry names a loopback GitHub as its `host:`
(pull requests, code scanning, Releases), for the end-to-end tests of those flows.

Import the fixtures into a test module: `from tests.githost.hosted_stack import (
github_description, github_host, hosted_stack)`; each module gets its own stack and host.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from services.demo.scenario import SampleMonorepo
from services.devenv.registry import Registry
from tests.githost.conftest import TOKEN, github_description  # noqa: F401 (fixture)
from tests.githost.described import Description
from tests.githost.fake_github import FakeGitHub
from tests.stack import WEBHOOK_SECRET, Stack, fresh_stack


def hosted_by(api_url: str) -> Callable[[SampleMonorepo], dict[str, Any]]:
    """The settings of a sample whose repository entry names the GitHub at `api_url`."""

    def settings_of(sample: SampleMonorepo) -> dict[str, Any]:
        host = {"type": "github", "api_url": api_url, "token": TOKEN}
        entry = {"name": sample.name, "url": sample.url, "webhook_secret": WEBHOOK_SECRET}
        return {"repositories": [{**entry, "host": host}]}

    return settings_of


@pytest.fixture(scope="module")
def github_host(github_description: Description) -> Iterator[FakeGitHub]:  # noqa: F811
    fake = FakeGitHub(github_description).start()
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
    github_host: FakeGitHub,
) -> Iterator[Stack]:
    """The suite's stack on a fresh sample, its repository hosted by `github_host`."""
    root = tmp_path_factory.mktemp("hosted")
    settings_of = hosted_by(github_host.host.url)
    with fresh_stack(
        root, redis_url, docker_host, registry, base_image, trivy_path, settings_of
    ) as stack:
        yield stack

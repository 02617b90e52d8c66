"""The git hosts on loopback (tests/githost/fake_*.py); GitHub's checked against its
published OpenAPI description, fetched with npm into the devenv state the first time
(GitLab's and Gitea's descriptions are in no package: see their fakes' docstrings)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.devenv.api_descriptions import github_openapi
from tests.githost.described import Description
from tests.githost.fake_gitea import FakeGitea
from tests.githost.fake_github import FakeGitHub
from tests.githost.fake_gitlab import FakeGitLab

TOKEN = "ghp_loopbackTOKEN0123456789abcdef"


@pytest.fixture(scope="session")
def github_description(devenv_state_dir: Path) -> Description:
    try:
        path = github_openapi(devenv_state_dir)
    except RuntimeError as exc:
        pytest.fail(f"GitHub's OpenAPI description is unavailable: {exc}", pytrace=False)
    return Description(path)


@pytest.fixture
def github(github_description: Description) -> Iterator[FakeGitHub]:
    fake = FakeGitHub(github_description).start()
    yield fake
    fake.host.stop()


@pytest.fixture
def gitlab() -> Iterator[FakeGitLab]:
    fake = FakeGitLab()
    fake.host.start()
    yield fake
    fake.host.stop()


@pytest.fixture
def gitea() -> Iterator[FakeGitea]:
    fake = FakeGitea()
    fake.host.start()
    yield fake
    fake.host.stop()

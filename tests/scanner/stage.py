"""The scanner stage as its tests set it up: the monorepo's remote holding shipline.yaml, and
a Runtime whose settings name that repository and the session's Trivy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import git

from services.common.runtime import Runtime
from services.common.settings import Repository, ScannerSettings, Settings

REPO = "acme/microbank"
SHIPLINE_YAML = """\
registry: 127.0.0.1:5000/microbank
services:
  user-service:
    path: user_service/
  account-service:
    path: account_service/
{account_scan}"""


class Monorepo:
    """A bare remote on disk; each commit replaces its shipline.yaml."""

    def __init__(self, root: Path) -> None:
        self.url = f"file://{root / 'monorepo.git'}"
        git.Repo.init(root / "monorepo.git", bare=True, initial_branch="main")
        self.work = git.Repo.init(root / "work", initial_branch="main")
        self.work.create_remote("origin", self.url)

    def commit(self, shipline_yaml: str) -> str:
        (Path(self.work.working_dir) / "shipline.yaml").write_text(shipline_yaml)
        self.work.git.add("-A")
        actor = git.Actor("Dev", "dev@example.com")
        sha = self.work.index.commit("shipline.yaml", author=actor, committer=actor).hexsha
        self.work.remote("origin").push("HEAD:refs/heads/main")
        return sha

    def repository(self, **more: Any) -> Repository:
        """Its `repositories:` entry, with `more` of that entry's settings (a `host:`)."""
        return Repository(name=REPO, url=self.url, webhook_secret="x" * 20, **more)


def scanner_runtime(
    redis_url: str, workdir: Path, trivy_path: Path, repository: Repository, **more: Any
) -> Runtime:
    """The stage's Runtime for `repository`, with `more` settings (API tokens)."""
    settings = Settings(
        redis_url=redis_url,
        workdir=workdir,
        repositories=[repository],
        scanner=ScannerSettings(trivy_path=str(trivy_path), timeout_seconds=120),
        **more,
    )
    return Runtime(settings)

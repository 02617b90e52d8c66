"""A real monorepo on disk: a bare remote, a developer's clone, and the detector's mirror."""

from __future__ import annotations

import itertools
import subprocess
from pathlib import Path

import git
import pytest

from services.common.events import ZERO_SHA, ChangeDetected, PushReceived
from services.common.git import Mirror
from services.common.settings import Repository
from services.detector.detect import Skip
from services.detector.task import pushed_changes

NAME = "acme/mono"
BOT_EMAIL = "shipline-bot@localhost"
DEV = git.Actor("Dana Developer", "dana@example.com")
BOT = git.Actor("Shipline Bot", BOT_EMAIL)
SHIPLINE_YAML = """\
registry: 127.0.0.1:5000/acme
global_paths: [package-lock.json]
ignore: ["*.md", "docs/"]
services:
  user-service:
    path: user_service/
    depends_on: [libs/common/]
  account-service:
    path: account_service/
    depends_on: [libs/common/]
  web:
    path: web/src/
    context: web/
    dockerfile: web/Dockerfile
"""
SERVICES = ["account-service", "user-service", "web"]


def deployment(service: str, image: str = "x:1") -> str:
    """A manifest the committer can write `service`'s image into."""
    return (
        f"apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {service}}}\nspec:\n"
        f"  template:\n    spec:\n      containers:\n        - name: {service}\n"
        f"          image: {image}\n"
    )


LAYOUT = {
    "shipline.yaml": SHIPLINE_YAML,
    "README.md": "# mono\n",
    "package-lock.json": "{}\n",
    "libs/common/lib.sh": "common v1\n",
    "user_service/Dockerfile": "FROM scratch\n",
    "user_service/app.txt": "user v1\n",
    "account_service/Dockerfile": "FROM scratch\n",
    "account_service/app.txt": "account v1\n",
    "web/Dockerfile": "FROM scratch\n",
    "web/src/index.html": "web v1\n",
    **{f"k8s/manifests/{name}/deployment.yaml": deployment(name) for name in SERVICES},
}


class Monorepo:
    """Commit on a developer's clone, push to a bare remote, detect from the mirror."""

    def __init__(self, root: Path) -> None:
        self.remote_path = root / "remote.git"
        git.Repo.init(self.remote_path, bare=True, initial_branch="main").close()
        self.url = f"file://{self.remote_path}"
        self.repo = git.Repo.init(root / "dev", initial_branch="main")
        self.repo.create_remote("origin", self.url)
        self.work = root / "dev"
        self.mirror = Mirror(self.url, root / "mirrors")
        self.settings = Repository(name=NAME, url=self.url, webhook_secret="s" * 20)
        self._runs = itertools.count(1)

    def commit(
        self, files: dict[str, str | None], message: str = "change", author: git.Actor = DEV
    ) -> str:
        for name, text in files.items():
            if text is None:
                self.repo.index.remove([name], working_tree=True)
                continue
            target = self.work / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            self.repo.index.add([name])
        return self.repo.index.commit(message, author=author, committer=author).hexsha

    def many_commits(self, changes: list[dict[str, str]]) -> str:
        """One commit per mapping of path → text on the current branch, fast (git fast-import)."""
        branch = self.repo.active_branch.path
        chunks = []
        for index, files in enumerate(changes):
            message = f"commit {index}".encode()
            chunks.append(
                f"commit {branch}\nauthor {DEV.name} <{DEV.email}> {1_700_000_000 + index} +0000\n"
                f"committer {DEV.name} <{DEV.email}> {1_700_000_000 + index} +0000\n".encode()
                + b"data %d\n%s\n" % (len(message), message)
            )
            if index == 0:
                chunks.append(f"from {self.repo.head.commit.hexsha}\n".encode())
            for path, text in files.items():
                data = text.encode()
                chunks.append(
                    b"M 100644 inline %s\ndata %d\n%s\n" % (path.encode(), len(data), data)
                )
        subprocess.run(
            ["git", "fast-import", "--quiet"], input=b"".join(chunks), cwd=self.work, check=True
        )
        self.repo.git.reset("--hard", branch)
        return self.repo.head.commit.hexsha

    def seed(self) -> PushReceived:
        self.commit(LAYOUT, "initial monorepo")
        return self.push()

    def remote_head(self, ref: str) -> str:
        with git.Repo(self.remote_path) as remote:
            try:
                return remote.rev_parse(ref).hexsha
            except (git.BadName, ValueError):
                return ZERO_SHA

    def push(self, branch: str = "main", force: bool = False) -> PushReceived:
        ref = f"refs/heads/{branch}"
        before = self.remote_head(ref)
        self.repo.git.push("origin", f"{'+' if force else ''}HEAD:{ref}")
        return self.event(ref, before, self.repo.head.commit.hexsha)

    def tag(self, name: str) -> PushReceived:
        self.repo.create_tag(name)
        self.repo.git.push("origin", f"refs/tags/{name}")
        return self.event(f"refs/tags/{name}", ZERO_SHA, self.repo.head.commit.hexsha)

    def event(self, ref: str, before: str, after: str) -> PushReceived:
        """The webhook's push, with no commit list: the detector must not need it."""
        run = next(self._runs)
        return PushReceived(
            run_id=f"run-{run}",
            provider="github",
            delivery_id=f"delivery-{run}",
            repository=NAME,
            ref=ref,
            before=before,
            after=after,
        )

    def branch(self, name: str, start: str = "HEAD") -> None:
        self.repo.git.checkout("-B", name, start)

    def merge(self, branch: str, message: str) -> str:
        self.repo.git.merge("--no-ff", "-m", message, branch)
        return self.repo.head.commit.hexsha

    def detect(self, push: PushReceived) -> list[ChangeDetected] | Skip:
        return pushed_changes(push, self.mirror, self.settings, BOT_EMAIL)

    def built(self, push: PushReceived) -> dict[str, ChangeDetected]:
        result = self.detect(push)
        assert isinstance(result, list), f"expected builds, got {result}"
        return {change.service: change for change in result}


@pytest.fixture
def mono(tmp_path: Path) -> Monorepo:
    return Monorepo(tmp_path)


@pytest.fixture
def seeded(mono: Monorepo) -> Monorepo:
    mono.seed()
    mono.mirror.fetch()
    return mono

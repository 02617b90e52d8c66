"""The sample monorepo as a real git remote, and the GitHub webhooks a push would send.

Shared by `shipline demo` and the end-to-end tests: a bare repository on disk plays the
git host, a working clone plays the developer.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import git
import httpx
import yaml

from services.common.events import ZERO_SHA
from services.demo.microbank import write_microbank
from services.gateway.github import sign

PUSH_ATTEMPTS = 5
DEVELOPER = git.Actor("Dana Developer", "dana@microbank.example")


@dataclass(frozen=True)
class CommitView:
    hexsha: str
    message: str
    author_email: str
    parents: tuple[str, ...]


@dataclass(frozen=True)
class Push:
    before: str
    after: str
    ref: str = "refs/heads/main"


class SampleMonorepo:
    def __init__(self, root: Path, name: str = "demo/microbank") -> None:
        self.name = name
        self.remote = root / "remotes" / "microbank.git"
        self.clone = root / "microbank"
        self.services: list[str] = []

    @property
    def url(self) -> str:
        return f"file://{self.remote}"

    def create(self, registry: str, base_image: str, environments: bool = False) -> Push:
        git.Repo.init(self.remote, bare=True, initial_branch="main").close()
        with git.Repo.init(self.clone, initial_branch="main") as repo:
            repo.create_remote("origin", self.url)
        self.services = write_microbank(self.clone, registry, base_image, environments)
        return self._commit_and_push(["."], "Initial microbank monorepo")

    def change(self, relative_path: str, content: str, message: str) -> Push:
        self.pull()
        target = self.clone / relative_path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
        return self._commit_and_push([relative_path], message)

    def append(self, relative_path: str, line: str, message: str) -> Push:
        self.pull()
        target = self.clone / relative_path
        target.write_text(target.read_text() + line + "\n")
        return self._commit_and_push([relative_path], message)

    def _commit_and_push(self, paths: list[str], message: str) -> Push:
        with git.Repo(self.clone) as repo:
            before = repo.head.commit.hexsha if repo.head.is_valid() else ZERO_SHA
            repo.git.add(*paths)
            repo.index.commit(message, author=DEVELOPER, committer=DEVELOPER)
            for attempt in range(PUSH_ATTEMPTS):
                try:
                    repo.git.push("origin", "HEAD:refs/heads/main")
                    break
                except git.GitCommandError:
                    # Shipline's committer pushed its deploy commit meanwhile (the manifests
                    # live beside the code): a developer pulls and pushes again
                    if attempt == PUSH_ATTEMPTS - 1:
                        raise
                    repo.git.pull("--rebase", "origin", "main")
                    before = repo.head.commit.parents[0].hexsha
            return Push(before, repo.head.commit.hexsha)

    def pull(self) -> None:
        with git.Repo(self.clone) as repo:
            if repo.head.is_valid():
                repo.git.pull("--rebase", "origin", "main")

    def remote_file(self, path: str, ref: str = "main") -> str:
        with git.Repo(self.remote) as repo:
            return str(repo.git.show(f"{ref}:{path}"))

    def remote_head(self, ref: str = "main") -> CommitView:
        with git.Repo(self.remote) as repo:
            commit = repo.commit(ref)
            return CommitView(
                commit.hexsha,
                str(commit.message),
                str(commit.author.email),
                tuple(p.hexsha for p in commit.parents),
            )

    def github_payload(self, push: Push) -> bytes:
        with git.Repo(self.remote) as repo:
            return self._payload(repo, push)

    def _payload(self, repo: git.Repo, push: Push) -> bytes:
        spec = push.after if push.before == ZERO_SHA else f"{push.before}..{push.after}"
        commits = [
            {
                "id": c.hexsha,
                "message": c.message,
                "author": {"name": c.author.name, "email": c.author.email},
                "added": [],
                "modified": list(c.stats.files) if c.parents else [],
                "removed": [],
            }
            for c in reversed(list(repo.iter_commits(spec, max_count=20)))
        ]
        payload = {
            "ref": push.ref,
            "before": push.before,
            "after": push.after,
            "repository": {"full_name": self.name, "clone_url": self.url},
            "pusher": {"name": DEVELOPER.name, "email": DEVELOPER.email},
            "commits": commits,
        }
        return json.dumps(payload).encode()


def send_github_push(
    api: str, secret: str, body: bytes, delivery: str | None = None, event: str = "push"
) -> httpx.Response:
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-Hub-Signature-256": sign(secret, body),
    }
    return httpx.post(f"{api}/webhooks/github", content=body, headers=headers, timeout=30)


def write_server_config(
    path: Path, sample: SampleMonorepo, secret: str, notify_url: str, **settings: Any
) -> Path:
    """A server YAML that accepts the sample repository and notifies `notify_url`."""
    config: dict[str, Any] = {
        "workdir": str(path.parent / "state"),
        "repositories": [{"name": sample.name, "url": sample.url, "webhook_secret": secret}],
        "notifications": [{"type": "log"}, {"type": "webhook", "url": notify_url}],
        "log_format": "json",
    }
    config.update(settings)
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


class NotReady(RuntimeError):
    pass


def wait_ready(api: str, server: subprocess.Popen[bytes], timeout: float = 60) -> None:
    """Wait for GET /readyz to answer 200, or raise NotReady if the server exits or stalls."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise NotReady(f"the server exited with code {server.returncode}")
        try:
            if httpx.get(f"{api}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise NotReady(f"the API did not become ready within {timeout}s")

"""A monorepo on disk (bare remote + working clone, with its shipline.yaml) and ChangeDetected
events for its services, built by the real builder against the session's dockerd, registry and
Redis."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import docker
import git
import pytest
import redis
import yaml

from services.builder.build import Builder
from services.builder.coordination import Coordinator
from services.builder.docker_engine import DockerEngine
from services.common.events import ChangeDetected, Source
from services.common.project import PROJECT_FILE
from services.common.settings import Settings
from services.devenv.registry import Registry

AUTHOR = git.Actor("Dana Developer", "dana@shop.example")
REPOSITORY = "acme/shop"


@dataclass
class Monorepo:
    remote: Path
    clone: Path
    namespace: str  # unique per test: image repositories never collide between tests
    registry: str  # the host[:port] of shipline.yaml's `registry: <registry>/<namespace>`
    # shipline.yaml entries beyond `path` (build_args, target, network, ...) by service
    services: dict[str, dict[str, object]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"file://{self.remote}"

    def commit(self, files: dict[str, str], message: str = "change", branch: str = "main") -> str:
        """Write `files` (path → text), commit them on `branch` and push; returns the sha.

        Unless `files` holds one, a shipline.yaml is written too: every top-level directory
        with a Dockerfile is a service (plus its `services` entry), on `registry`."""
        with git.Repo(self.clone) as repo:
            if repo.head.is_valid() and repo.active_branch.name != branch:
                if branch in [head.name for head in repo.heads]:
                    repo.git.checkout(branch)
                else:
                    repo.git.checkout("-b", branch)
            for path, text in files.items():
                target = self.clone / path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text)
            if PROJECT_FILE not in files:
                (self.clone / PROJECT_FILE).write_text(yaml.safe_dump(self.project()))
            repo.git.add("--all")
            commit = repo.index.commit(message, author=AUTHOR, committer=AUTHOR)
            repo.git.push("origin", f"HEAD:refs/heads/{branch}")
            return commit.hexsha

    def project(self) -> dict[str, object]:
        found = sorted(path.parent.name for path in self.clone.glob("*/Dockerfile"))
        services = {name: {"path": f"{name}/", **self.services.get(name, {})} for name in found}
        return {"registry": f"{self.registry}/{self.namespace}", "services": services}

    def image_repository(self, registry: Registry, service: str) -> str:
        return f"{registry.host}/{self.namespace}/{service}"


@pytest.fixture
def monorepo(tmp_path: Path, registry: Registry) -> Monorepo:
    remote, clone = tmp_path / "remote.git", tmp_path / "clone"
    git.Repo.init(remote, bare=True, initial_branch="main").close()
    with git.Repo.init(clone, initial_branch="main") as repo:
        repo.create_remote("origin", f"file://{remote}")
    return Monorepo(remote, clone, f"t{uuid.uuid4().hex[:10]}", registry.host)


@pytest.fixture
def settings(tmp_path: Path, monorepo: Monorepo, redis_url: str) -> Settings:
    return Settings(
        workdir=tmp_path / "state",
        redis_url=redis_url,
        repositories=[{"name": REPOSITORY, "url": monorepo.url, "webhook_secret": "x" * 20}],
    )


@pytest.fixture
def builder(
    settings: Settings, docker_client: docker.DockerClient, redis_client: redis.Redis
) -> Builder:
    return Builder(settings, DockerEngine(docker_client), Coordinator(redis_client))


def change_for(
    image_repository: str,
    service: str,
    commit: str,
    *,
    ref: str = "refs/heads/main",
    tags: tuple[str, ...] | None = None,
    run_id: str | None = None,
    occurred_at: datetime | None = None,
    **fields: object,
) -> ChangeDetected:
    """The ChangeDetected the detector would send for `service` (context: its directory)."""
    sha_tag = f"sha-{commit[:7]}"
    branch_tags = (sha_tag, "latest") if ref == "refs/heads/main" else (sha_tag,)
    return ChangeDetected(
        run_id=run_id or f"run-{uuid.uuid4().hex[:8]}",
        service=service,
        source=Source(repository=REPOSITORY, commit=commit, ref=ref),
        context=fields.pop("context", service),  # type: ignore[arg-type]
        dockerfile=fields.pop("dockerfile", "Dockerfile"),  # type: ignore[arg-type]
        image_repository=image_repository,
        tags=tags or branch_tags,
        reason="paths",
        occurred_at=occurred_at or datetime.now(UTC),
        **fields,  # type: ignore[arg-type]
    )

"""A repository writer's large files: the build context is streamed from `git archive` to the
engine through a temporary file, never held in memory, and stops at builder.max_context_bytes.
Real repositories; the builder stage against the session's dockerd, registry and Redis."""

from __future__ import annotations

import io
import tarfile
import tracemalloc
from pathlib import Path

import docker
import httpx
import pytest
import redis
import yaml

from services.builder.build import Builder
from services.builder.context import ContextTooLarge, context_file
from services.builder.coordination import Coordinator
from services.builder.docker_engine import DockerEngine
from services.common.errors import PermanentError
from services.common.git import Mirror
from services.common.settings import Settings
from services.devenv.registry import Registry
from tests.builder.conftest import REPOSITORY, change_for
from tests.committer.gitrepos import DEVELOPER, Repo

pytestmark = pytest.mark.integration  # git repositories, and a 200 MiB file
MIB = 1024 * 1024
CHUNK = b"\0" * MIB


def commit_with_large_file(repo: Repo, path: str, mib: int, files: dict[str, str]) -> str:
    """Commit `files` and a `mib` MiB file at `path`, written a MiB at a time."""
    for name, text in files.items():
        (repo.work / name).parent.mkdir(parents=True, exist_ok=True)
        (repo.work / name).write_text(text)
    (repo.work / path).parent.mkdir(parents=True, exist_ok=True)
    with (repo.work / path).open("wb") as handle:
        for _ in range(mib):
            handle.write(CHUNK)
    repo.clone.git.add("-A")
    sha = repo.clone.index.commit("add data", author=DEVELOPER, committer=DEVELOPER).hexsha
    repo.clone.git.push("origin", "HEAD:refs/heads/main")
    repo.clone.close()
    return sha


def project(registry: str) -> str:
    return yaml.safe_dump({"registry": registry, "services": {"cart": {"path": "cart/"}}})


@pytest.fixture
def shop(tmp_path: Path) -> Repo:
    return Repo(tmp_path / "remotes", REPOSITORY)


def test_an_ignored_200_mib_file_is_streamed_past_never_held_in_memory(
    shop: Repo, tmp_path: Path
) -> None:
    commit = commit_with_large_file(
        shop,
        "cart/data/dump.bin",
        200,
        {
            "shipline.yaml": project("registry.example.com/acme"),
            "cart/Dockerfile": "FROM scratch\nCOPY app.txt /\n",
            "cart/app.txt": "cart\n",
            "cart/.dockerignore": "data/\n",
        },
    )
    mirror = Mirror(shop.url, tmp_path / "mirrors")
    mirror.fetch()

    tracemalloc.start()
    try:
        with context_file(
            mirror,
            commit,
            "cart",
            "Dockerfile",
            {"org.opencontainers.image.revision": commit},
            inline_labels=True,
            workdir=tmp_path / "contexts",
            max_bytes=MIB,
            what="service cart",
        ) as context:
            _, peak = tracemalloc.get_traced_memory()
            assert not isinstance(context.tar, bytes)
            sent = context.tar.read()
    finally:
        tracemalloc.stop()

    assert peak < 8 * MIB  # the file is 200 MiB
    with tarfile.open(fileobj=io.BytesIO(sent)) as tar:
        assert sorted(tar.getnames()) == [".dockerignore", "Dockerfile", "app.txt"]
    assert list((tmp_path / "contexts").iterdir()) == []  # the temporary file is gone


def test_a_context_over_the_limit_fails_the_build_naming_the_service_and_the_limit(
    shop: Repo,
    tmp_path: Path,
    registry: Registry,
    docker_client: docker.DockerClient,
    redis_url: str,
    redis_client: redis.Redis,
) -> None:
    namespace = f"limits{tmp_path.name[-8:].lower().replace('_', '')}"
    commit = commit_with_large_file(
        shop,
        "cart/assets/video.bin",
        3,
        {
            "shipline.yaml": project(f"{registry.host}/{namespace}"),
            "cart/Dockerfile": "FROM scratch\nCOPY . /\n",
        },
    )
    settings = Settings(
        workdir=tmp_path / "state",
        redis_url=redis_url,
        repositories=[{"name": REPOSITORY, "url": shop.url, "webhook_secret": "x" * 20}],
        builder={"max_context_bytes": 2 * MIB},
    )
    builder = Builder(settings, DockerEngine(docker_client), Coordinator(redis_client))
    image = f"{registry.host}/{namespace}/cart"

    with pytest.raises(PermanentError) as refused:
        builder.build(change_for(image, "cart", commit))

    assert isinstance(refused.value, ContextTooLarge)
    message = str(refused.value)
    assert "service cart" in message
    assert "builder.max_context_bytes (2,097,152 bytes)" in message
    assert ".dockerignore" in message
    tags = httpx.get(f"{registry.url}/v2/{namespace}/cart/tags/list", timeout=10)
    assert tags.status_code == 404  # nothing pushed
    assert list((tmp_path / "state" / "contexts").iterdir()) == []


def test_ignored_files_do_not_count_toward_the_limit(shop: Repo, tmp_path: Path) -> None:
    commit = commit_with_large_file(
        shop,
        "cart/cache/blob.bin",
        4,
        {
            "shipline.yaml": project("registry.example.com/acme"),
            "cart/Dockerfile": "FROM scratch\n",
            "cart/.dockerignore": "cache\n",
        },
    )
    mirror = Mirror(shop.url, tmp_path / "mirrors")
    mirror.fetch()

    with context_file(
        mirror,
        commit,
        "cart",
        "Dockerfile",
        {},
        inline_labels=True,
        workdir=tmp_path / "contexts",
        max_bytes=MIB,
        what="service cart",
    ) as context:
        assert not isinstance(context.tar, bytes)
        assert len(context.tar.read()) < MIB

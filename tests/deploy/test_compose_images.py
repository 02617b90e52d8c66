"""deploy/Dockerfile's images, built for real (docker-compose build on a local Debian base) and
started as Kubernetes runs them: the user they declare, a read-only root file system."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import docker
import httpx
from docker.models.containers import Container

from services.devenv._process import free_port

UNPRIVILEGED = "10001:10001"
WORKDIR_TMPFS = {"/tmp": "", "/var/lib/shipline": "uid=10001,gid=10001,mode=0700"}


@contextmanager
def started(client: docker.DockerClient, image: str, **options: Any) -> Iterator[Container]:
    container = client.containers.run(
        image, detach=True, read_only=True, tmpfs=WORKDIR_TMPFS, network_mode="host", **options
    )
    try:
        yield container
    finally:
        container.remove(force=True)


def _output(client: docker.DockerClient, image: str, *command: str) -> str:
    raw = client.containers.run(
        image, list(command), entrypoint=[], read_only=True, tmpfs=WORKDIR_TMPFS, remove=True
    )
    return bytes(raw).decode().strip()


def test_every_image_declares_and_runs_as_its_unprivileged_user_on_a_read_only_root(
    docker_client: docker.DockerClient, compose_images: dict[str, str]
) -> None:
    for image in compose_images.values():
        assert docker_client.images.get(image).attrs["Config"]["User"] == UNPRIVILEGED, image
        identity = _output(docker_client, image, "sh", "-c", "id -u; id -g; touch / 2>&1 || :")
        uid, gid, refused = identity.splitlines()
        assert (uid, gid) == ("10001", "10001"), image
        assert "Read-only file system" in refused or "Permission denied" in refused, image


def test_the_gateway_image_carries_no_git_yet_starts_and_answers(
    docker_client: docker.DockerClient, compose_images: dict[str, str], redis_url: str
) -> None:
    image = compose_images["gateway"]
    assert _output(docker_client, image, "sh", "-c", "command -v git || echo none") == "none"
    port = free_port()
    command = ["shipline", "api", "--host", "127.0.0.1", "--port", str(port)]
    with started(
        docker_client, image, command=command, environment={"SHIPLINE_REDIS_URL": redis_url}
    ) as container:
        deadline, status = time.monotonic() + 60, {}
        while time.monotonic() < deadline and set(status.values()) != {200}:
            container.reload()
            assert container.status != "exited", container.logs().decode()[-3000:]
            for path in ("/healthz", "/readyz"):
                try:
                    status[path] = httpx.get(
                        f"http://127.0.0.1:{port}{path}", timeout=2
                    ).status_code
                except httpx.HTTPError:
                    status[path] = 0
            time.sleep(0.3)
        assert status == {"/healthz": 200, "/readyz": 200}, container.logs().decode()[-3000:]


def test_the_scanner_image_carries_the_pinned_trivy_and_git(
    docker_client: docker.DockerClient, compose_images: dict[str, str]
) -> None:
    image = compose_images["scanner"]
    assert (
        docker_client.images.get(image)
        .attrs["Config"]["Env"]
        .count("SHIPLINE_TRIVY=/usr/local/bin/trivy")
    )
    version = _output(docker_client, image, "trivy", "--version")
    assert version.splitlines()[0] == "Version: 0.59.1"
    assert _output(docker_client, image, "git", "--version").startswith("git version 2.")

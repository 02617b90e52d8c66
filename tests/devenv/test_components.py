"""The dev components are the real things: Redis, dockerd, registry (with auth), Trivy."""

from __future__ import annotations

import io
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
import redis
from docker.errors import APIError

from services.devenv.private_dockerd import PrivateDockerd
from services.devenv.redis_server import RedisServer
from services.devenv.registry import Registry
from services.scanner.trivy import locate_trivy

pytestmark = pytest.mark.integration  # starts Redis itself


def _build(client: docker.DockerClient, base_image: str, tag: str, label: str) -> None:
    dockerfile = f'FROM {base_image}\nRUN echo hi > /x && test "$(cat /x)" = hi\nLABEL t={label}\n'
    client.images.build(
        fileobj=io.BytesIO(dockerfile.encode()), tag=tag, pull=False, rm=True, forcerm=True
    )


def _push(
    client: docker.DockerClient, repository: str, tag: str, auth: dict[str, str] | None = None
) -> tuple[str | None, list[str]]:
    """Push; return (digest the daemon reported, error messages from the stream)."""
    digest: str | None = None
    errors: list[str] = []
    lines: Iterator[dict[str, Any]] = client.images.push(
        repository, tag, auth_config=auth, stream=True, decode=True
    )
    for line in lines:
        if "error" in line:
            errors.append(str(line["error"]))
        aux = line.get("aux") or {}
        digest = aux.get("Digest", digest)
    return digest, errors


def test_redis_answers_ping_and_set_get(redis_client: redis.Redis) -> None:
    assert redis_client.ping() is True
    redis_client.set("shipline:probe", "yes")
    assert redis_client.get("shipline:probe") == b"yes"


def test_redis_client_starts_empty(redis_client: redis.Redis) -> None:
    assert redis_client.dbsize() == 0


def test_redis_server_appendonly_and_stop(tmp_path: Path) -> None:
    with RedisServer(tmp_path, appendonly=True) as server:
        client = redis.Redis.from_url(server.url)
        try:
            client.set("k", "v")
            assert client.config_get("appendonly") == {"appendonly": "yes"}
        finally:
            client.close()
    assert list(tmp_path.rglob("*.aof*")), "no append-only file was written"
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", server.port), timeout=1).close()


def test_image_from_base_pushed_digest_matches_registry(
    docker_client: docker.DockerClient, base_image: str, registry: Registry
) -> None:
    repository = f"{registry.host}/devenv/app"
    tag = uuid.uuid4().hex[:8]
    _build(docker_client, base_image, f"{repository}:{tag}", label=tag)
    try:
        digest, errors = _push(docker_client, repository, tag)
        assert errors == []
        assert digest is not None and digest.startswith("sha256:")
        assert registry.manifest_digest("devenv/app", tag) == digest
        assert tag in registry.tags("devenv/app")
        assert registry.config_labels("devenv/app", tag)["t"] == tag
        assert registry.manifest_digest("devenv/app", "no-such-tag") is None
    finally:
        docker_client.images.remove(f"{repository}:{tag}", force=True)


def test_auth_registry_rejects_wrong_credentials_and_accepts_right_ones(
    private_dockerd: PrivateDockerd, base_image: str, auth_registry: Registry
) -> None:
    assert auth_registry.auth is not None
    username, password = auth_registry.auth
    repository = f"{auth_registry.host}/devenv/private"
    tag = uuid.uuid4().hex[:8]
    client = private_dockerd.client(timeout=60)  # own client: login state must not leak
    try:
        _build(client, base_image, f"{repository}:{tag}", label=tag)
        with pytest.raises(APIError, match="(?i)unauthorized|401"):
            client.login(username, "wrong-pass", registry=auth_registry.url, reauth=True)
        digest, errors = _push(
            client, repository, tag, auth={"username": username, "password": "wrong-pass"}
        )
        assert digest is None
        assert errors and any("unauthorized" in e.lower() for e in errors), errors
        assert auth_registry.manifest_digest("devenv/private", tag) is None

        client.login(username, password, registry=auth_registry.url, reauth=True)
        digest, errors = _push(
            client, repository, tag, auth={"username": username, "password": password}
        )
        assert errors == []
        assert digest is not None
        assert auth_registry.manifest_digest("devenv/private", tag) == digest
    finally:
        client.images.remove(f"{repository}:{tag}", force=True)
        client.close()


def test_the_trivy_the_tests_run_is_the_scanners_own_lookup_and_0_59(trivy_path: Path) -> None:
    assert Path(locate_trivy(None)) == trivy_path
    version = subprocess.run(
        [str(trivy_path), "--version"], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert "0.59" in version

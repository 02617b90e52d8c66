"""docker-compose.yml run for real: the images built from deploy/Dockerfile, every Shipline
service a container of the test's engine, a signed webhook to the gateway container, and the
run through the builder, scanner and committer containers to the git remote.

The override (written here) changes only what this machine needs: host networking (the test
engine has no bridge, and the test's Redis, registry and git server listen on loopback), the
test engine's socket for the builder, the test's Redis URL and config. Redis and the registry
of the file are not started (`up --no-deps`): the test's own run instead.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest
import yaml

from services.common.settings import STAGES
from services.demo.scenario import SampleMonorepo, send_github_push
from services.devenv._process import free_port
from services.devenv.git_servers import GitHttpServer
from services.devenv.registry import Registry
from tests.deploy.compose_images import Compose, write_override

WEBHOOK_SECRET = "compose-webhook-secret-0123456789"
API_TOKEN = "compose-api-token-0123456789abcdef"
GIT_TOKEN = "compose-git-token-0123456789"
APP_SERVICES = ("gateway", *STAGES)
CONFIG_IN_CONTAINER = "/etc/shipline/config.yaml"


@dataclass
class RunningCompose:
    compose: Compose
    api: str
    sample: SampleMonorepo

    def containers(self, client: docker.DockerClient) -> dict[str, Any]:
        label = f"com.docker.compose.project={self.compose.project}"
        found = client.containers.list(all=True, filters={"label": label})
        return {c.labels["com.docker.compose.service"]: c for c in found}

    def logs(self) -> str:
        return self.compose.run("logs", "--no-color", "--tail", "60").stdout[-8000:]


def _server_config(path: Path, repository_url: str) -> Path:
    config = {
        "env": "dev",
        "repositories": [
            {
                "name": "demo/microbank",
                "url": repository_url,
                "webhook_secret": WEBHOOK_SECRET,
                "credentials": {"username": "x-access-token", "token": GIT_TOKEN},
            }
        ],
        "notifications": [{"type": "log"}],
        "api_tokens": [API_TOKEN],
        "scanner": {"scanners": ["secret"]},
        "log_format": "json",
    }
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o644)  # read by the containers' user 10001
    return path


def _override(path: Path, config: Path, socket: Path, port: int, redis_url: str) -> Path:
    mount = f"{config}:{CONFIG_IN_CONTAINER}:ro"
    services: dict[str, dict[str, Any]] = {
        name: {
            "network_mode": "host",
            "environment": {"SHIPLINE_REDIS_URL": redis_url},
            "volumes": [mount],
            "restart": "no",
        }
        for name in APP_SERVICES
    }
    gateway = services["gateway"]
    gateway["command"] = ["shipline", "api", "--host", "127.0.0.1", "--port", str(port)]
    probe = f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{port}/healthz')"
    gateway["healthcheck"] = {"test": ["CMD", "python", "-c", probe]}
    services["builder"]["volumes"].append(f"{socket}:/var/run/docker.sock")
    return write_override(path, services)


def _without_published_ports(compose: Compose, path: Path) -> Compose:
    """The file and override as `docker-compose config` resolves them, less the gateway's
    published port: on the host's network there is nothing to publish, and docker-compose
    refuses both together, while an override can add ports but never remove them."""
    resolved = yaml.safe_load(compose.check("config"))
    resolved["services"]["gateway"].pop("ports", None)
    path.write_text(yaml.safe_dump(resolved, sort_keys=False))
    return replace(compose, overrides=(), resolved=path)


def _wait_ready(api: str, running: RunningCompose, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{api}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    pytest.fail(f"the gateway container did not become ready:\n{running.logs()}")


@pytest.fixture(scope="module")
def running(
    tmp_path_factory: pytest.TempPathFactory,
    compose_images: dict[str, str],
    docker_host: str,
    registry: Registry,
    redis_url: str,
    base_image: str,
) -> Iterator[RunningCompose]:
    if not docker_host.startswith("unix://"):
        pytest.fail(f"the builder container mounts the engine's socket; {docker_host} is none")
    socket = Path(docker_host.removeprefix("unix://"))
    root = tmp_path_factory.mktemp("compose-run")
    sample = SampleMonorepo(root)
    sample.create(f"{registry.host}/microbank", base_image)
    git_server = GitHttpServer(root / "remotes", "x-access-token", GIT_TOKEN).start()
    config = _server_config(root / "config.yaml", f"{git_server.url}/microbank.git")
    port = free_port()
    override = _override(root / "run.override.yml", config, socket, port, redis_url)
    overridden = Compose(
        f"shiplinerun{secrets.token_hex(3)}",
        docker_host,
        root,
        (override,),
        {"DOCKER_GID": str(os.stat(socket).st_gid)},
    )
    compose = _without_published_ports(overridden, root / "resolved.yml")
    try:
        compose.check("up", "-d", "--no-build", "--no-deps", *APP_SERVICES)
        state = RunningCompose(compose, f"http://127.0.0.1:{port}", sample)
        _wait_ready(state.api, state)
        yield state
    finally:
        compose.run("down", "--volumes", "--remove-orphans", "--timeout", "10")
        git_server.stop()


def _wait_for_run(running: RunningCompose, run_id: str, timeout: float = 240) -> dict[str, Any]:
    deadline, run = time.monotonic() + timeout, {}
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    while time.monotonic() < deadline:
        run = httpx.get(f"{running.api}/api/v1/runs/{run_id}", headers=headers, timeout=5).json()
        if run.get("status") in ("succeeded", "failed", "blocked", "skipped") and run.get(
            "notified_at"
        ):
            return dict(run)
        time.sleep(0.5)
    pytest.fail(f"run {run_id} did not finish: {run}\n{running.logs()}")


def test_a_signed_webhook_to_the_gateway_container_is_built_scanned_and_committed(
    running: RunningCompose, registry: Registry, docker_client: docker.DockerClient
) -> None:
    sample = running.sample
    push = sample.append("user_service/app.txt", "Shipped by compose.", "feat(user): compose")
    body = sample.github_payload(push)

    response = send_github_push(running.api, WEBHOOK_SECRET, body)

    assert response.status_code == 202, response.text
    run_id = response.json()["run_id"]
    run = _wait_for_run(running, run_id)
    assert run["status"] == "succeeded", f"{run}\n{running.logs()}"
    service = run["services"]["user-service"]
    tag = f"sha-{push.after[:7]}"
    assert service["image"] == f"{registry.host}/microbank/user-service:{tag}"
    assert service["digest"] == registry.manifest_digest("microbank/user-service", tag)
    head = sample.remote_head()
    assert head.hexsha == service["gitops_commit"]
    assert f"image: {service['image']}" in sample.remote_file(
        "k8s/manifests/user-service/deployment.yaml"
    )
    containers = running.containers(docker_client)
    for stage in ("builder", "scanner", "committer"):
        assert run_id in containers[stage].logs().decode(), f"{stage} did not log the run"


def test_every_container_runs_as_its_unprivileged_user_on_a_read_only_root(
    running: RunningCompose, docker_client: docker.DockerClient
) -> None:
    containers = running.containers(docker_client)
    assert set(containers) == set(APP_SERVICES)
    for name, container in containers.items():
        container.reload()
        assert container.status == "running", f"{name}: {container.logs().decode()[-2000:]}"
        assert container.attrs["Config"]["User"] == "10001:10001", name
        assert container.attrs["HostConfig"]["ReadonlyRootfs"] is True, name
        # the pause: an exec that ends before docker-py attaches loses its output (docker-py#2042)
        probe = "sleep 0.5; id -u; touch /probe 2>&1 || :"
        code, output = container.exec_run(["sh", "-c", probe])
        uid, refused = output.decode().strip().splitlines()
        assert (code, uid) == (0, "10001"), name
        assert "Read-only file system" in refused, f"{name}: {refused}"

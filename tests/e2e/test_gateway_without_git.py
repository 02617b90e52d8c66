"""The gateway as Kubernetes runs it: no git executable and no network but Redis. A separate
`shipline api` process runs in a network namespace of its own (its only way out is a unix
socket to the stack's Redis) with a PATH that holds no git, against the workers of a running
`shipline up`; it starts, answers, and the requests it queues are resolved by the workers."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import git
import httpx
import pytest
import yaml

from services.demo.scenario import sign
from tests.stack import API_TOKEN, FINAL, WEBHOOK_SECRET, Stack, _free_port

ROOT = Path(__file__).resolve().parents[2]
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
NO_GIT_PATH = "/nonexistent-bin"


def _stop(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)  # the group this test started for it
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _started(command: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


@contextlib.contextmanager
def gateway_without_git(stack: Stack) -> Iterator[tuple[httpx.Client, Path]]:
    """A client of the isolated gateway (through its unix socket) and its log."""
    sockets = Path(tempfile.mkdtemp(prefix="gw-", dir="/tmp"))
    config = stack.log_path.parent / "server.yaml"
    redis = urlsplit(str(yaml.safe_load(config.read_text())["redis_url"]))
    assert redis.hostname and redis.port, "the stack's Redis is on TCP"
    redis_socket, api_socket = sockets / "redis.sock", sockets / "api.sock"
    isolated = yaml.safe_load(config.read_text())
    db = (redis.path or "/0").strip("/") or "0"
    isolated["redis_url"] = f"unix://:{redis.password or ''}@{redis_socket}?db={db}"
    isolated_config = sockets / "server.yaml"
    isolated_config.write_text(yaml.safe_dump(isolated))
    isolated_config.chmod(0o600)
    python = sys.executable
    bridge = [python, "-m", "tests.unix_bridge"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHIPLINE_", "GIT_"))}
    to_redis = _started(
        [*bridge, str(redis_socket), redis.hostname, str(redis.port)], sockets / "b.log", env
    )
    port = _free_port()
    inside = (
        "/usr/sbin/ip link set lo up && "
        f"{{ {python} -m tests.unix_bridge {api_socket} 127.0.0.1 {port} & }} && "
        f"exec {python} -m services.cli api --port {port}"
    )
    env |= {
        "PATH": NO_GIT_PATH,
        "GIT_PYTHON_GIT_EXECUTABLE": "/nonexistent/git",
        "SHIPLINE_CONFIG": str(isolated_config),
    }
    assert shutil.which("git", path=env["PATH"]) is None
    log = sockets / "gateway.log"
    gateway = _started(["/usr/bin/unshare", "--net", "/bin/sh", "-c", inside], log, env)
    client = httpx.Client(
        transport=httpx.HTTPTransport(uds=str(api_socket)), base_url="http://gateway", timeout=30
    )
    try:
        yield client, log
    finally:
        client.close()
        _stop(gateway)
        _stop(to_redis)
        shutil.rmtree(sockets, ignore_errors=True)


def wait_ready(client: httpx.Client, log: Path, timeout: float = 60) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not (log.parent / "api.sock").exists():  # httpx leaks a socket that cannot connect
            time.sleep(0.1)
            continue
        with contextlib.suppress(httpx.HTTPError):
            response = client.get("/readyz")
            if response.status_code == 200:
                return response
        time.sleep(0.3)
    pytest.fail(f"the gateway without git never became ready:\n{log.read_text()[-3000:]}")


def wait_for_run(client: httpx.Client, stack: Stack, run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 300
    run: dict[str, Any] = {}
    while time.monotonic() < deadline:
        run = client.get(f"/api/v1/runs/{run_id}", headers=AUTH).json()
        if run.get("status") in FINAL and run.get("notified_at"):
            return run
        time.sleep(0.5)
    tail = stack.log_path.read_text(errors="replace")[-4000:]
    raise AssertionError(f"run {run_id} did not finish: {run}\n--- workers ---\n{tail}")


def signed_push(client: httpx.Client, stack: Stack, payload: bytes) -> str:
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": sign(WEBHOOK_SECRET, payload),
    }
    response = client.post("/webhooks/github", content=payload, headers=headers)
    assert response.status_code == 202, response.text
    return str(response.json()["run_id"])


def test_the_gateway_without_git_or_egress_answers_and_its_requests_are_resolved_by_workers(
    stack: Stack,
) -> None:
    with gateway_without_git(stack) as (client, log):
        assert wait_ready(client, log).json()["status"] == "ok"

        # a push through it: the detector records the services the API lists
        push = stack.sample.append("user_service/app.txt", "Loans.", "feat(user): loans")
        pushed = wait_for_run(
            client, stack, signed_push(client, stack, stack.sample.github_payload(push))
        )
        assert pushed["status"] == "succeeded", pushed
        deployed = pushed["services"]["user-service"]["image"]
        listed = client.get("/api/v1/services", headers=AUTH)
        assert listed.status_code == 200, listed.text
        rows = {row["service"]: row for row in listed.json()["services"]}
        assert listed.json()["errors"] == []
        assert rows["user-service"]["image"] == deployed
        assert rows["user-service"]["last_run"]["run_id"] == pushed["run_id"]

        # a release by tag: queued, the detector resolves the tag
        stack.sample.pull()  # the committer's manifest commit
        head = stack.sample.remote_head().hexsha
        with git.Repo(stack.sample.clone) as repo:
            repo.git.tag("v3.0.0", head)
            repo.git.push("origin", "refs/tags/v3.0.0")
        released = client.post("/api/v1/releases", json={"tag": "v3.0.0"}, headers=AUTH)
        assert released.status_code == 202, released.text
        release = wait_for_run(client, stack, released.json()["run_id"])
        assert release["status"] == "succeeded", release
        assert release["commit"] == head
        assert release["services"]["user-service"]["image"].endswith(":v3.0.0")

        # a redeploy by hand of the image the push built: the detector checks the registry
        repository, tag = deployed.rsplit(":", 1)
        digest = stack.registry.manifest_digest("microbank/user-service", tag)
        redeploy = {
            "type": "ImagePushed",
            "run_id": f"redeploy-{uuid.uuid4().hex[:8]}",
            "service": "user-service",
            "source": {"repository": stack.sample.name, "commit": head, "ref": "refs/heads/main"},
            "image_repository": repository,
            "tags": [tag],
            "digest": digest,
        }
        queued = client.post("/api/v1/events", json=redeploy, headers=AUTH)
        assert queued.status_code == 202, queued.text
        assert queued.json()["queue"] == "detector"
        redeployed = wait_for_run(client, stack, redeploy["run_id"])
        assert redeployed["status"] == "succeeded", redeployed
        manifest = stack.sample.remote_file("k8s/manifests/user-service/deployment.yaml")
        assert f"image: {deployed}" in manifest

        # what the gateway cannot check is the run's failure, in the user's words
        missing = client.post(
            "/api/v1/deployments", json={"service": "user-service", "tag": "nope"}, headers=AUTH
        )
        assert missing.status_code == 202, missing.text
        failed = wait_for_run(client, stack, missing.json()["run_id"])
        assert failed["status"] == "failed"
        assert "user-service:nope is not in the registry" in str(failed["services"])
        unknown = client.post(
            "/api/v1/deployments", json={"service": "ghost", "tag": "v1"}, headers=AUTH
        )
        assert unknown.status_code == 404 and "service ghost is not in" in unknown.text

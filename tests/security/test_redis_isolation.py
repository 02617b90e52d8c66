"""Attack V4 (issue 17), the Redis half: a `RUN` step wrote keys into the unauthenticated
loopback Redis of `shipline up`. The embedded Redis now listens on no TCP port, only on a
socket in a 0700 directory of the workdir, and requires a password it generated at start;
the password is in no log and no argument list. Webhooks still start runs on it (on Redis
6.2, the oldest supported, too)."""

from __future__ import annotations

import json
import socket
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import psutil
import pytest
import redis
from fastapi.testclient import TestClient

from services.common.bus import queue_name
from services.common.settings import Repository, Settings
from services.demo.receiver import NotificationReceiver
from services.demo.scenario import SampleMonorepo, write_server_config
from services.devenv.redis_server import RedisServer
from services.devenv.registry import Registry
from services.gateway.app import create_app
from services.gateway.github import sign
from tests.stack import API_TOKEN, WEBHOOK_SECRET, Stack, shipline_up


@dataclass
class EmbeddedStack(Stack):
    process: psutil.Process  # `shipline up`
    redis_dir: Path  # <workdir>/redis
    redis_url: str  # what `shipline up` handed its children

    def redis_server(self) -> psutil.Process:
        [server] = [p for p in self.process.children() if p.name() == "valkey-server"]
        return server


def _redis_url_of_the_children(up: psutil.Process) -> str:
    """SHIPLINE_REDIS_URL as `shipline up` gave it to its API child (read as the host's
    owner can: /proc/<pid>/environ)."""
    [api] = [p for p in up.children() if p.cmdline()[3:4] == ["api"]]
    return str(api.environ()["SHIPLINE_REDIS_URL"])


@pytest.fixture(scope="module")
def embedded(
    tmp_path_factory: pytest.TempPathFactory,
    docker_host: str,
    registry: Registry,
    base_image: str,
    trivy_path: Path,
) -> Iterator[EmbeddedStack]:
    root = tmp_path_factory.mktemp("embedded")
    sample = SampleMonorepo(root)
    sample.create(f"{registry.host}/microbank", base_image)
    with NotificationReceiver() as receiver:
        config = write_server_config(
            root / "server.yaml",
            sample,
            WEBHOOK_SECRET,
            receiver.url,
            scanner={"trivy_path": str(trivy_path)},
            api_tokens=[API_TOKEN],  # Stack reads runs with it
        )  # no redis_url: `shipline up` starts its own
        log_path = root / "shipline.log"
        with shipline_up(config, docker_host, log_path) as up:
            process = psutil.Process(up.process.pid)
            url = _redis_url_of_the_children(process)
            client = redis.Redis.from_url(url)
            try:
                yield EmbeddedStack(
                    up.api, sample, registry, receiver, client, log_path,
                    process, root / "state" / "redis", url,
                )  # fmt: skip
            finally:
                client.close()


def test_a_webhook_starts_a_run_that_completes_on_the_embedded_redis(
    embedded: EmbeddedStack,
) -> None:
    push = embedded.sample.append("user_service/app.txt", "Payees shown.", "feat(user): payees")

    response = embedded.push_webhook(push)

    assert response.status_code == 202, response.text
    run = embedded.wait_for_run(response.json()["run_id"])
    assert run["status"] == "succeeded", run
    assert set(run["services"]) == {"user-service"}


def test_the_embedded_redis_refuses_a_client_without_the_password(
    embedded: EmbeddedStack,
) -> None:
    socket_path = embedded.redis_dir / "redis.sock"
    intruder = redis.Redis(unix_socket_path=str(socket_path), protocol=2)

    with pytest.raises(redis.AuthenticationError, match="Authentication required"):
        intruder.set("shipline:pin:user-service", "evil")
    with pytest.raises(redis.AuthenticationError):
        intruder.lpush(queue_name("committer"), "a forged event")
    intruder.close()
    with socket.socket(socket.AF_UNIX) as raw:  # a bare RESP client, as a RUN step would be
        raw.connect(str(socket_path))
        raw.sendall(b"KEYS *\r\n")
        assert raw.recv(256).startswith(b"-NOAUTH")
    assert embedded.redis.get("shipline:pin:user-service") is None
    assert embedded.redis.llen(queue_name("committer")) == 0


def test_the_embedded_redis_listens_on_no_tcp_port_only_on_a_private_socket(
    embedded: EmbeddedStack,
) -> None:
    server = embedded.redis_server()

    listening = [c for c in server.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
    assert listening == [], f"the embedded Redis listens on TCP: {listening}"
    url = urlsplit(embedded.redis_url)
    assert url.scheme == "unix" and url.hostname is None
    socket_path = Path(url.path)
    assert socket_path.parent == embedded.redis_dir
    assert stat.S_IMODE(embedded.redis_dir.stat().st_mode) == 0o700
    assert stat.S_ISSOCK(socket_path.stat().st_mode)
    assert stat.S_IMODE(socket_path.stat().st_mode) == 0o700


def test_the_embedded_redis_password_is_generated_and_in_no_log_or_argument_list(
    embedded: EmbeddedStack,
) -> None:
    password = urlsplit(embedded.redis_url).password
    assert password is not None and len(password) >= 32

    log = embedded.log_path.read_text(errors="replace")
    assert password not in log
    assert "embedded Redis at unix://***@" in log
    assert password not in (embedded.redis_dir / "redis.log").read_text(errors="replace")
    for process in [embedded.process, *embedded.process.children(recursive=True)]:
        assert password not in " ".join(process.cmdline()), process.cmdline()


def test_a_webhook_is_queued_on_redis_6_2_over_its_socket(
    tmp_path: Path, redis_6_2_binary: Path
) -> None:
    body = json.dumps(
        {
            "ref": "refs/heads/main",
            "before": "a" * 40,
            "after": "b" * 40,
            "repository": {"full_name": "acme/microbank"},
            "commits": [{"id": "b" * 40, "message": "feat: x", "modified": ["user_service/a"]}],
        }
    ).encode()
    signed = {
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": "d-62",
        "X-Hub-Signature-256": sign(WEBHOOK_SECRET, body),
        "Content-Type": "application/json",
    }

    with RedisServer(tmp_path / "redis", unix_socket=True, binary=redis_6_2_binary) as server:
        client = redis.Redis.from_url(server.url)
        assert client.info()["redis_version"].startswith("6.2.")
        repository = Repository(
            name="acme/microbank", url="file:///nowhere", webhook_secret=WEBHOOK_SECRET
        )
        settings = Settings(redis_url=server.url, workdir=tmp_path, repositories=[repository])
        with TestClient(create_app(settings)) as gateway:
            answer = gateway.post("/webhooks/github", content=body, headers=signed)
        assert answer.status_code == 202, answer.text
        assert client.llen(queue_name("detector")) == 1
        client.close()

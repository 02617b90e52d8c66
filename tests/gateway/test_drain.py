"""A real `shipline api` process stopped with SIGTERM, as Kubernetes stops it: readiness
turns 503 at once, the request in flight completes, a live event stream ends, and the
process exits 0 well within its grace period."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from services.common.timeouts import GATEWAY_DRAIN_SECONDS, GATEWAY_FINAL_SECONDS
from services.devenv._process import free_port
from services.gateway.github import sign

SECRET = "drain-test-webhook-secret-0123"
TOKEN = "drain-test-api-token-0123456789"
REPO = Path(__file__).resolve().parents[2]


class Api:
    def __init__(self, process: subprocess.Popen[bytes], port: int, log: Path) -> None:
        self.process, self.port, self.log = process, port, log
        self.url = f"http://127.0.0.1:{port}"

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=10)

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


@pytest.fixture
def api(redis_url: str, tmp_path: Path) -> Iterator[Api]:
    config = tmp_path / "server.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "workdir": str(tmp_path / "state"),
                "repositories": [
                    {"name": "acme/shop", "url": "file:///nowhere", "webhook_secret": SECRET}
                ],
                "api_tokens": [TOKEN],
            }
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPLINE_")}
    env |= {"SHIPLINE_CONFIG": str(config), "SHIPLINE_REDIS_URL": redis_url}
    port = free_port()
    log = tmp_path / "api.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "api", "--port", str(port)],
            env=env,
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Api(process, port, log)
    try:
        _wait_ready(server)
        yield server
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _wait_ready(api: Api) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if api.process.poll() is not None:
            pytest.fail(f"shipline api exited {api.process.returncode}:\n{api.output()}")
        try:
            if httpx.get(f"{api.url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail(f"shipline api not ready within 60 s:\n{api.output()}")


def _read_until(sock: socket.socket, marker: bytes, timeout: float) -> bytes:
    sock.settimeout(timeout)
    received = b""
    while marker not in received:
        chunk = sock.recv(65536)
        if not chunk:
            break
        received += chunk
    return received


def _read_to_end(sock: socket.socket, timeout: float) -> bytes:
    sock.settimeout(timeout)
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def test_sigterm_drains_readiness_503_the_request_in_flight_completes_and_exit_0(
    api: Api,
) -> None:
    with api.connect() as stream, api.connect() as webhook:
        # A live event stream, as the dashboard holds one open.
        stream.sendall(
            b"GET /api/v1/events/stream HTTP/1.1\r\nHost: shipline\r\n"
            b"Accept: text/event-stream\r\nConnection: close\r\n"
            + f"Authorization: Bearer {TOKEN}\r\n\r\n".encode()
        )
        assert b" 200 " in _read_until(stream, b"\r\n\r\n", 10).split(b"\r\n")[0]
        # A webhook whose body is still arriving: a request in flight.
        body = json.dumps({"zen": "Keep it simple.", "repository": {"full_name": "acme/shop"}})
        webhook.sendall(
            b"POST /webhooks/github HTTP/1.1\r\nHost: shipline\r\nConnection: close\r\n"
            b"Content-Type: application/json\r\nX-GitHub-Event: ping\r\n"
            b"X-GitHub-Delivery: drain-1\r\n"
            + f"X-Hub-Signature-256: {sign(SECRET, body.encode())}\r\n".encode()
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body[:10].encode()
        )
        time.sleep(0.5)

        api.process.send_signal(signal.SIGTERM)
        stopped_at = time.monotonic()
        time.sleep(0.5)
        readiness = httpx.get(f"{api.url}/readyz", timeout=5)
        stream_rest = _read_to_end(stream, 10)
        time.sleep(1)
        assert api.process.poll() is None, "the gateway exited with a request in flight"
        webhook.sendall(body[10:].encode())
        answer = _read_to_end(webhook, 10)
        returncode = api.process.wait(timeout=GATEWAY_DRAIN_SECONDS + GATEWAY_FINAL_SECONDS)

    assert readiness.status_code == 503
    assert readiness.json()["components"]["gateway"]["detail"] == "shutting down"
    assert stream_rest.endswith(b"0\r\n\r\n"), "the event stream did not end cleanly"
    status_line = answer.split(b"\r\n")[0]
    assert status_line.startswith(b"HTTP/1.1 2"), answer[:500]
    assert returncode == 0, api.output()
    assert time.monotonic() - stopped_at < GATEWAY_DRAIN_SECONDS + GATEWAY_FINAL_SECONDS


def test_sigterm_with_nothing_in_flight_exits_0_at_once(api: Api) -> None:
    started = time.monotonic()

    api.process.send_signal(signal.SIGTERM)

    assert api.process.wait(timeout=10) == 0, api.output()
    assert time.monotonic() - started < 5

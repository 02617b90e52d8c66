"""Secrets never leak: a full pipeline (real gateway and worker processes, a registry with
htpasswd auth) runs with a known, unique value in every credential setting, some of them
used by channels that fail, and none of those values may show up anywhere a person or
another system can read: log files, the event log, run records, dead letters (all of
Redis), notifications received, API answers including errors, or the files Shipline
writes under its work dir.
"""

from __future__ import annotations

import base64
import os
import secrets
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from services.demo.receiver import NotificationReceiver
from services.demo.scenario import SampleMonorepo, send_github_push, wait_ready, write_server_config
from services.devenv.registry import Registry
from tests.conftest import AUTH_PASSWORD, AUTH_USERNAME
from tests.workers import Workers, wait_until


def _secret(kind: str) -> str:
    return f"leak-{kind}-{secrets.token_hex(8)}"


SECRETS = {
    "webhook secret": _secret("webhook"),
    "API token": _secret("apitoken"),
    "git token": _secret("gittoken"),
    "webhook channel secret": _secret("hooksign"),
    "webhook channel URL token": _secret("hookurl"),
    "Slack URL": _secret("slack"),
    "GitHub status token": _secret("ghstatus"),
    "SMTP username": _secret("smtpuser"),
    "SMTP password": _secret("smtppass"),
    "Trivy server token": _secret("trivytoken"),
    "registry password": AUTH_PASSWORD,  # the test registry's htpasswd password
}
FINAL = ("succeeded", "failed", "blocked", "skipped")


def closed_port() -> int:
    """A loopback port nobody listens on: the channels using it fail (and are retried)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def forms(value: str) -> list[str]:
    """The value, and the encodings a careless client would put it in."""
    basic = base64.b64encode(f"{AUTH_USERNAME}:{value}".encode()).decode()
    return [value, base64.b64encode(value.encode()).decode(), basic]


@dataclass
class Leaks:
    """Everything readable after the run, by where it was read."""

    places: dict[str, str]

    def of(self, value: str) -> list[str]:
        return [
            place for place, text in self.places.items() for form in forms(value) if form in text
        ]


def redis_dump(client: redis.Redis) -> str:
    """Every value of every key (strings, hashes, lists, sets, sorted sets, streams)."""
    parts: list[Any] = []
    for key in client.scan_iter(count=1000):
        kind = client.type(key).decode()
        reader = {
            "string": lambda k: client.get(k),
            "hash": lambda k: client.hgetall(k),
            "list": lambda k: client.lrange(k, 0, -1),
            "set": lambda k: client.smembers(k),
            "zset": lambda k: client.zrange(k, 0, -1),
            "stream": lambda k: client.xrange(k),
        }[kind]
        parts.append((key, reader(key)))
    text = repr(parts)
    # Celery wraps task arguments in base64: decode them too.
    for chunk in text.split('"body": "')[1:]:
        encoded = chunk.split('"', 1)[0]
        text += base64.b64decode(encoded + "==", validate=False).decode(errors="replace")
    return text


def files_under(root: Path) -> str:
    return "".join(
        f"\n{path}\n" + path.read_text(errors="replace")
        for path in root.rglob("*")
        if path.is_file() and not path.is_symlink() and path.stat().st_size < 5_000_000
    )


@pytest.fixture
def stack(
    tmp_path, redis_url, redis_client, docker_host, auth_registry: Registry, base_image, trivy_path
) -> Iterator[tuple[str, SampleMonorepo, NotificationReceiver, Workers, Path]]:
    sample = SampleMonorepo(tmp_path)
    sample.create(f"{auth_registry.host}/microbank", base_image)
    dead_port = closed_port()
    with NotificationReceiver() as receiver:
        config = write_server_config(
            tmp_path / "server.yaml",
            sample,
            SECRETS["webhook secret"],
            receiver.url,
            redis_url=redis_url,
            max_retries=1,
            api_tokens=[SECRETS["API token"]],
            repositories=[
                {
                    "name": sample.name,
                    "url": sample.url,
                    "webhook_secret": SECRETS["webhook secret"],
                    "credentials": {"token": SECRETS["git token"]},
                }
            ],
            registry_auth={
                auth_registry.host: {"username": AUTH_USERNAME, "password": AUTH_PASSWORD}
            },
            scanner={"trivy_path": str(trivy_path), "server_token": SECRETS["Trivy server token"]},
            notifications=[
                {"type": "log"},
                {
                    "type": "webhook",
                    "url": f"{receiver.url}?token={SECRETS['webhook channel URL token']}",
                    "secret": SECRETS["webhook channel secret"],
                },
                {
                    "type": "slack",
                    "url": f"http://127.0.0.1:{dead_port}/services/{SECRETS['Slack URL']}",
                },
                {
                    "type": "github_status",
                    "api_url": f"http://127.0.0.1:{dead_port}",
                    "token": SECRETS["GitHub status token"],
                },
                {
                    "type": "email",
                    "host": "127.0.0.1",
                    "port": dead_port,
                    "starttls": False,
                    "username": SECRETS["SMTP username"],
                    "password": SECRETS["SMTP password"],
                    "from": "shipline@example.com",
                    "to": ["ops@example.com"],
                },
            ],
        )
        env = {**os.environ, "SHIPLINE_CONFIG": str(config), "DOCKER_HOST": docker_host}
        workers = Workers(env, tmp_path / "workers.log")
        for stage in ("detector", "builder", "scanner", "committer", "notifier"):
            workers.start(stage)
        port = closed_port()
        with (tmp_path / "gateway.log").open("wb") as log:
            gateway = subprocess.Popen(
                [sys.executable, "-m", "services.cli", "api", "--port", str(port)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        api = f"http://127.0.0.1:{port}"
        try:
            wait_ready(api, gateway)
            yield api, sample, receiver, workers, tmp_path
        finally:
            gateway.send_signal(signal.SIGTERM)
            gateway.wait(timeout=20)
            workers.stop_all()


def test_no_credential_appears_in_logs_events_runs_notifications_errors_or_files(
    stack, redis_client
) -> None:
    api, sample, receiver, workers, root = stack
    token = {"Authorization": f"Bearer {SECRETS['API token']}"}
    push = sample.append("user_service/app.txt", "a change", "feat(user): a change")
    accepted = send_github_push(api, SECRETS["webhook secret"], sample.github_payload(push))
    assert accepted.status_code == 202, accepted.text
    run_id = accepted.json()["run_id"]

    def finished() -> bool:
        run = httpx.get(f"{api}/api/v1/runs/{run_id}", headers=token, timeout=5).json()
        return run.get("status") in FINAL

    wait_until(finished, 240, "the run to finish")
    receiver.wait_for(lambda body: body.get("run_id") == run_id, timeout=60)
    wait_until(
        lambda: httpx.get(f"{api}/api/v1/dead-letters", headers=token).json()["total"] >= 1,
        60,
        "the failing channels to give up (a dead letter)",
    )
    answers = [
        httpx.get(f"{api}{path}", headers=token, timeout=10)
        for path in (
            f"/api/v1/runs/{run_id}",
            f"/api/v1/runs/{run_id}/events",
            f"/api/v1/runs/{run_id}/services/user-service/build-log",
            "/api/v1/runs",
            "/api/v1/services",
            "/api/v1/dead-letters",
            "/metrics",
        )
    ]
    errors = [
        send_github_push(api, "a-wrong-secret-0123456789", sample.github_payload(push)),
        httpx.post(f"{api}/api/v1/builds", json={"repository": sample.name}, headers=token),
        httpx.post(f"{api}/api/v1/builds", json={}, headers={"Authorization": "Bearer nope"}),
        httpx.post(
            f"{api}/api/v1/deployments",
            json={"service": "user-service", "tag": "no-such-tag"},
            headers=token,
        ),
    ]
    assert httpx.get(f"{api}/api/v1/runs/{run_id}", headers=token).json()["status"] == "succeeded"
    workers.stop_all()  # every log line written
    workers.processes.clear()

    leaks = Leaks(
        {
            "worker logs": (root / "workers.log").read_text(errors="replace"),
            "gateway log": (root / "gateway.log").read_text(errors="replace"),
            "Redis (events, runs, dead letters, queues)": redis_dump(redis_client),
            "notifications received": repr(receiver.received),
            "API answers": "".join(a.text for a in answers),
            "API errors": "".join(f"{e.status_code} {e.headers} {e.text}" for e in errors),
            "work dir (mirrors, build logs, reports)": files_under(root / "state"),
        }
    )
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    assert [e.status_code for e in errors][:3] == [401, 422, 403]
    found = {name: leaks.of(value) for name, value in SECRETS.items()}
    assert {name: places for name, places in found.items() if places} == {}
    # Every value was really configured, and the places searched really were.
    configured = (root / "server.yaml").read_text()
    assert all(value in configured for value in SECRETS.values())
    assert leaks.of(SECRETS["SMTP password"]) == [] and Leaks({"x": configured}).of(
        SECRETS["SMTP password"]
    ) == ["x"]
    assert "stage failed" in leaks.places["worker logs"]  # the failing channels were used
    assert run_id in leaks.places["notifications received"]
    assert "build" in leaks.places["work dir (mirrors, build logs, reports)"]

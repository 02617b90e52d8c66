"""Redis (appendonly) goes away in the middle of a build and comes back on the same port:
queued and in-flight work resumes, the gateway answers 503 meanwhile, and the webhook
sender's retry of the refused delivery then starts its run."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import redis
from fastapi.testclient import TestClient

from services.common.runtime import Runtime
from services.demo.receiver import NotificationReceiver
from services.demo.scenario import Push, SampleMonorepo
from services.devenv.redis_server import RedisServer
from services.devenv.registry import Registry
from services.gateway.app import create_app
from services.gateway.github import sign
from tests.deploy_outcomes import deploy_commits, manifest_of, pushes_of
from tests.workers import stages_on_sample, wait_until

pytestmark = pytest.mark.integration  # starts Redis itself

SECRET = "restart-webhook-secret-0123456789"
API_TOKEN = "restart-api-token-0123456789"
READER = {"Authorization": f"Bearer {API_TOKEN}"}
VISIBILITY_TIMEOUT = 5


@dataclass
class Outage:
    redis_server: RedisServer
    sample: SampleMonorepo
    runtime: Runtime
    gateway: TestClient
    receiver: NotificationReceiver
    registry: Registry

    def webhook(self, push: Push) -> httpx.Response:
        body = self.sample.github_payload(push)
        headers = {
            "Content-Type": "application/json",
            "X-GitHub-Event": "push",
            "X-GitHub-Delivery": f"delivery-{push.after}",
            "X-Hub-Signature-256": sign(SECRET, body),
        }
        return self.gateway.post("/webhooks/github", content=body, headers=headers)

    def slow_change(self, service_dir: str, seconds: int) -> Push:
        path = f"{service_dir}/Dockerfile"
        text = (self.sample.clone / path).read_text()
        text = text.replace("WORKDIR /app\n", f"WORKDIR /app\nRUN sleep {seconds}\n", 1)
        return self.sample.change(path, text, f"build: slower {service_dir}")

    def run(self, run_id: str) -> dict:
        recorded = self.runtime.runs.get(run_id)
        return recorded.model_dump() if recorded else {}


@pytest.fixture
def outage(tmp_path, docker_host, registry, base_image, trivy_path) -> Iterator[Outage]:
    server = RedisServer(tmp_path / "redis", appendonly=True).start()
    try:
        with (
            stages_on_sample(
                tmp_path, server.url, docker_host, registry, base_image, trivy_path,
                visibility_timeout=VISIBILITY_TIMEOUT, webhook_secret=SECRET,
                concurrency={"builder": 1}, api_tokens=[API_TOKEN],
            ) as pipeline,
            TestClient(
                create_app(pipeline.runtime.settings, pipeline.runtime), headers=READER
            ) as gateway,
        ):  # fmt: skip
            yield Outage(
                server, pipeline.sample, pipeline.runtime, gateway, pipeline.receiver, registry
            )
    finally:
        server.stop()


def test_work_queued_and_in_flight_resumes_after_redis_restarts_and_the_gateway_says_503(
    outage: Outage,
) -> None:
    building = outage.slow_change("user_service", seconds=4)
    run_building = outage.webhook(building).json()["run_id"]
    waiting = outage.slow_change("account_service", seconds=1)
    run_waiting = outage.webhook(waiting).json()["run_id"]  # queued behind the build

    def user_service_building() -> bool:
        svc = outage.run(run_building).get("services", {}).get("user-service", {})
        return "started" in svc.get("timings", {}).get("builder", {})

    wait_until(user_service_building, 60, "the first build to start")
    outage.redis_server.stop()

    refused_push = outage.slow_change("transaction_service", seconds=1)
    started = time.monotonic()
    refused = outage.webhook(refused_push)
    assert time.monotonic() - started < 15, "the gateway must answer, not hang"
    assert refused.status_code == 503
    assert "unavailable" in refused.json()["detail"]
    runs_page = outage.gateway.get("/api/v1/runs")
    assert runs_page.status_code == 503
    assert "Redis" in runs_page.json()["detail"]
    assert outage.gateway.get("/readyz").status_code == 503
    time.sleep(3)  # the build finishes and tries to publish while Redis is away

    outage.redis_server.restart()
    retried = outage.webhook(refused_push)
    assert retried.status_code == 202, retried.text
    run_retried = retried.json()["run_id"]

    def all_notified() -> bool:
        runs = [outage.run(r) for r in (run_building, run_waiting, run_retried)]
        return all(r.get("notified_at") for r in runs)

    wait_until(all_notified, 180, "the three runs to finish after Redis came back")
    for run_id, push, service in (
        (run_building, building, "user-service"),
        (run_waiting, waiting, "account-service"),
        (run_retried, refused_push, "transaction-service"),
    ):
        run = outage.run(run_id)
        assert run["status"] == "succeeded", run
        tag = f"sha-{push.after[:7]}"
        assert run["services"][service]["image"].endswith(tag)
        assert tag in manifest_of(outage.sample, service)
        assert pushes_of(outage.registry, service, tag) == 1
        assert deploy_commits(outage.sample, f"{service}:{tag}") == 1
    summaries = [b["run_id"] for b in outage.receiver.received]
    assert sorted(summaries) == sorted([run_building, run_waiting, run_retried])


def test_redis_restarted_with_appendonly_keeps_what_was_written(tmp_path) -> None:
    server = RedisServer(tmp_path / "redis", appendonly=True).start()
    try:
        client = redis.Redis.from_url(server.url)
        client.lpush("shipline.builder", "a queued message")
        server.restart()
        assert client.lrange("shipline.builder", 0, -1) == [b"a queued message"]
        client.close()
    finally:
        server.stop()

"""Redis behind Sentinel loses its master in the middle of a build: the Sentinels promote the
replica, and `shipline up` (gateway, stores and every Celery worker on the sentinel:// URL)
carries on against it: the run in flight and one started after the failover both succeed,
each image pushed once and committed once, nothing lost and nothing done twice."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.common.redis_connect import connect
from services.common.settings import STAGES
from services.demo.receiver import NotificationReceiver
from services.demo.scenario import Push, SampleMonorepo
from services.devenv.redis_sentinel import SentinelGroup
from services.devenv.registry import Registry
from tests.e2e.test_redis_restart import deploy_commits, pushes_of
from tests.stack import Stack, stack_up
from tests.workers import wait_until

SETTLED_SECONDS = 60


@pytest.fixture
def sentinels(tmp_path: Path) -> Iterator[SentinelGroup]:
    with SentinelGroup(tmp_path / "redis") as group:
        yield group


@pytest.fixture
def ha_stack(
    tmp_path: Path,
    sentinels: SentinelGroup,
    docker_host: str,
    registry: Registry,
    base_image: str,
    trivy_path: Path,
) -> Iterator[Stack]:
    sample = SampleMonorepo(tmp_path)
    sample.create(f"{registry.host}/microbank", base_image)
    client = connect(sentinels.url, socket_timeout=5)
    with NotificationReceiver() as receiver:
        try:
            with stack_up(
                tmp_path, sample, registry, receiver, client, docker_host, trivy_path,
                redis_url=sentinels.url, concurrency={"builder": 1},
            ) as stack:  # fmt: skip
                yield stack
        finally:
            client.close()


def slow_change(sample: SampleMonorepo, service_dir: str, seconds: int) -> Push:
    path = f"{service_dir}/Dockerfile"
    text = (sample.clone / path).read_text()
    text = text.replace("WORKDIR /app\n", f"WORKDIR /app\nRUN sleep {seconds}\n", 1)
    return sample.change(path, text, f"build: slower {service_dir}")


def run_of(stack: Stack, run_id: str) -> dict[str, Any]:
    try:
        response = stack.get(f"/api/v1/runs/{run_id}", timeout=5)
    except httpx.HTTPError:
        return {}
    return dict(response.json()) if response.status_code == 200 else {}


def accepted(stack: Stack, push: Push, timeout: float = 60) -> str:
    """The webhook as a sender delivers it: retried with the same delivery id on 503."""
    delivery = f"delivery-{push.after}"
    deadline = time.monotonic() + timeout
    while True:
        response = stack.push_webhook(push, delivery)
        if response.status_code == 202 or time.monotonic() > deadline:
            assert response.status_code == 202, response.text
            return str(response.json()["run_id"])
        time.sleep(1)


def test_a_run_in_flight_when_the_master_dies_completes_on_the_promoted_replica(
    ha_stack: Stack, sentinels: SentinelGroup
) -> None:
    building = slow_change(ha_stack.sample, "user_service", seconds=6)
    run_building = accepted(ha_stack, building)

    def user_service_building() -> bool:
        service = run_of(ha_stack, run_building).get("services", {}).get("user-service", {})
        return "started" in service.get("timings", {}).get("builder", {})

    wait_until(user_service_building, 120, "the build to start")
    old_master = sentinels.master()
    old_master.kill()
    new_master = sentinels.wait_for_new_master(old_master)
    assert new_master is not old_master

    after = slow_change(ha_stack.sample, "account_service", seconds=1)
    run_after = accepted(ha_stack, after)  # the intake script, loaded again on the new master

    finished = {run_id: ha_stack.wait_for_run(run_id) for run_id in (run_building, run_after)}
    # A message whose acknowledgement was lost in the failover would stay pending, to be
    # handed out again after the visibility timeout (a second build, a second commit).
    wait_until(lambda: nothing_pending(ha_stack), SETTLED_SECONDS, "no message pending")
    for run_id, push, service in (
        (run_building, building, "user-service"),
        (run_after, after, "account-service"),
    ):
        run = finished[run_id]
        assert run["status"] == "succeeded", run
        tag = f"sha-{push.after[:7]}"
        assert run["services"][service]["image"].endswith(tag)
        assert pushes_of(ha_stack.registry, service, tag) == 1
        assert deploy_commits(ha_stack.sample, f"{service}:{tag}") == 1
    summaries = [body["run_id"] for body in ha_stack.receiver.received]
    assert sorted(summaries) == sorted([run_building, run_after])
    assert ha_stack.redis.info("replication")["role"] == "master"


def nothing_pending(stack: Stack) -> bool:
    """No message delivered and unacknowledged (kombu's `unacked`), none queued."""
    queues = [f"shipline.{stage}" for stage in STAGES]
    return stack.redis.hlen("unacked") == 0 and sum(stack.redis.llen(q) for q in queues) == 0

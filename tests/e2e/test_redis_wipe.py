"""Redis loses every key (FLUSHALL: a restart without persistence, a failover to an empty
replica) under a running `shipline up`, and nothing is restarted: the next push deploys
normally, and nothing is deployed twice: each image tag is pushed once, each deployed
image committed once."""

from __future__ import annotations

import time
import uuid

from services.demo.scenario import Push
from services.devenv.redis_server import RedisServer
from tests.deploy_outcomes import deploy_commits, image_of, manifest_of, pushes_of
from tests.stack import Stack
from tests.workers import wait_until


def assert_deployed_once(stack: Stack, service: str, push: Push) -> None:
    image = image_of(stack.registry, service, push.after)
    assert f"image: {image}" in manifest_of(stack.sample, service)
    assert pushes_of(stack.registry, service, f"sha-{push.after[:7]}") == 1, image
    assert deploy_commits(stack.sample, image) == 1, image


def deploy(stack: Stack, push: Push, service: str) -> dict:
    run = stack.deploy(push, delivery=f"delivery-{push.after}")
    assert run["services"][service]["image"] == image_of(stack.registry, service, push.after)
    assert_deployed_once(stack, service, push)
    return run


def start_slow_build(stack: Stack, directory: str, service: str) -> tuple[Push, str]:
    """Push a change making `service`'s build take 8 s; return it and its run once building."""
    dockerfile = f"{directory}/Dockerfile"
    text = (stack.sample.clone / dockerfile).read_text()
    step = f"RUN sleep 8 && echo {uuid.uuid4()}\n"  # never in the engine's layer cache
    slow = stack.sample.change(
        dockerfile, text.replace("WORKDIR /app\n", f"WORKDIR /app\n{step}", 1), "build: slow"
    )
    response = stack.push_webhook(slow)
    assert response.status_code == 202, response.text
    run_id = response.json()["run_id"]

    def building() -> bool:
        run = stack.get(f"/api/v1/runs/{run_id}").json()
        return "builder" in run.get("services", {}).get(service, {}).get("timings", {})

    wait_until(building, 120, f"the slow build of {service} to start")
    return slow, run_id


def wipe(stack: Stack) -> None:
    stack.redis.flushall()
    assert stack.redis.dbsize() == 0


def test_a_push_after_redis_lost_all_its_data_deploys_and_a_redelivery_deploys_nothing_twice(
    stack: Stack,
) -> None:
    before = stack.sample.append("user_service/app.txt", "Wipe: before.", "feat(user): before")
    deploy(stack, before, "user-service")

    wipe(stack)

    after = stack.sample.append("account_service/app.txt", "Wipe: after.", "feat(account): after")
    deploy(stack, after, "account-service")
    runs = stack.get("/api/v1/runs")
    assert runs.status_code == 200, runs.text

    # The first push's delivery marker went with the wipe: its redelivery starts a run
    # again, which finds the image in the registry and the manifest already on it.
    again = stack.push_webhook(before, delivery=f"delivery-{before.after}")
    assert again.status_code == 202, again.text
    run = stack.wait_for_run(again.json()["run_id"])
    assert run["status"] in ("succeeded", "skipped"), run
    assert_deployed_once(stack, "user-service", before)
    assert_deployed_once(stack, "account-service", after)


def test_a_wipe_during_a_build_lets_the_next_push_deploy_and_deploys_nothing_twice(
    stack: Stack,
) -> None:
    """The run the wipe interrupted is rebuilt from its events after the loss (trigger
    `recovered`): answered by the API, it ends succeeded and its summary is sent, once."""
    slow, interrupted = start_slow_build(stack, "transaction_service", "transaction-service")
    wipe(stack)
    slow_image = image_of(stack.registry, "transaction-service", slow.after)
    assert deploy_commits(stack.sample, slow_image) == 0

    after = stack.sample.append("user_service/app.txt", "Wipe: during.", "feat(user): during")
    normal = deploy(stack, after, "user-service")

    # The build in progress when Redis lost its data finishes and deploys, once.
    wait_until(
        lambda: deploy_commits(stack.sample, slow_image) > 0, 120, "the slow build to deploy"
    )
    time.sleep(3)  # anything that would deploy it a second time has had its chance
    assert_deployed_once(stack, "transaction-service", slow)
    assert_deployed_once(stack, "user-service", after)
    assert stack.get("/api/v1/runs").status_code == 200

    run = stack.wait_for_run(interrupted, timeout=60)  # notified: its summary was sent
    assert (run["status"], run["trigger"]) == ("succeeded", "recovered"), run
    assert run["recovered_at"] and run["commit"] == slow.after, run
    assert run["repository"] == normal["repository"], run
    service = run["services"]["transaction-service"]
    assert (service["status"], service["image"]) == ("succeeded", slow_image), run
    summaries = [
        b
        for b in stack.receiver.received
        if b.get("run_id") == interrupted and b["event"]["type"] == "RunCompleted"
    ]
    assert len(summaries) == 1, summaries
    assert summaries[0]["status"] == "succeeded", summaries

    def last_run_of_transaction_service() -> str | None:
        rows = stack.get("/api/v1/services", timeout=30).json()["services"]
        row = next((r for r in rows if r["service"] == "transaction-service"), {})
        return (row.get("last_run") or {}).get("run_id")

    wait_until(lambda: last_run_of_transaction_service() == interrupted, 60, "its last run")


def test_a_push_after_redis_restarted_without_its_data_deploys(
    stack: Stack, redis_server: RedisServer
) -> None:
    assert not redis_server.appendonly  # and `--save ""`: a restart comes back empty
    redis_server.restart()
    assert stack.redis.dbsize() == 0

    after = stack.sample.append("user_service/app.txt", "Empty restart.", "feat(user): empty")
    deploy(stack, after, "user-service")


def test_a_build_ending_while_redis_is_away_deploys_once_after_redis_returns_without_data(
    stack: Stack, redis_server: RedisServer
) -> None:
    """The builder cannot publish its ImagePushed; once Redis answers again, empty, the
    worker queues its own copy of the event (kombu's kept copy went with the data), and the
    build found in the registry goes on to deploy."""
    slow, _ = start_slow_build(stack, "account_service", "account-service")
    redis_server.stop()
    tag = f"sha-{slow.after[:7]}"
    try:
        wait_until(
            lambda: pushes_of(stack.registry, "account-service", tag) > 0, 120, "the image pushed"
        )
        time.sleep(3)  # the builder has tried to publish, and waits for Redis
    finally:
        redis_server.restart()  # the session's Redis: every later test needs it back

    image = image_of(stack.registry, "account-service", slow.after)
    wait_until(lambda: deploy_commits(stack.sample, image) > 0, 120, "the slow build to deploy")
    time.sleep(3)
    assert_deployed_once(stack, "account-service", slow)

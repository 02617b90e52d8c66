"""Redis 6.2 is the oldest Redis Shipline supports (docs/settings.md): a push goes through
the whole pipeline on it (the intake script, Celery's queues, the run store, the event log),
with `shipline up` pointed at it by redis_url like any real Redis."""

from __future__ import annotations

from pathlib import Path

import redis

from services.demo.receiver import NotificationReceiver
from services.demo.scenario import SampleMonorepo
from services.devenv.redis_server import RedisServer
from services.devenv.registry import Registry
from tests.stack import stack_up


def test_a_signed_push_deploys_on_redis_6_2(
    tmp_path: Path,
    redis_6_2_binary: Path,
    docker_host: str,
    registry: Registry,
    base_image: str,
    trivy_path: Path,
) -> None:
    sample = SampleMonorepo(tmp_path, name="oldest/microbank")
    sample.create(f"{registry.host}/oldest-redis", base_image)
    with (
        RedisServer(tmp_path / "redis", unix_socket=True, binary=redis_6_2_binary) as server,
        NotificationReceiver() as receiver,
    ):
        assert server.version.startswith("Redis 6.2.")
        client = redis.Redis.from_url(server.url)
        with stack_up(
            tmp_path, sample, registry, receiver, client, docker_host, trivy_path,
            redis_url=server.url,
        ) as stack:  # fmt: skip
            push = sample.append("user_service/app.txt", "Payees on 6.2.", "feat(user): payees")

            response = stack.push_webhook(push)

            assert response.status_code == 202, response.text
            run = stack.wait_for_run(response.json()["run_id"])
        client.close()

    assert run["status"] == "succeeded", run
    image = f"{registry.host}/oldest-redis/user-service:sha-{push.after[:7]}"
    service = run["services"]["user-service"]
    assert service["image"] == image
    assert service["digest"] == registry.manifest_digest(
        "oldest-redis/user-service", f"sha-{push.after[:7]}"
    )
    assert f"image: {image}" in sample.remote_file("k8s/manifests/user-service/deployment.yaml")

"""`redis_namespace` through the whole pipeline: a push deploys with `shipline up` keeping its
state under another namespace, and every key it leaves in Redis is under that namespace or
one of Celery's own (its queues and kombu's bookkeeping, which the namespace does not cover:
docs/settings.md)."""

from __future__ import annotations

import re
from pathlib import Path

import redis

from services.demo.receiver import NotificationReceiver
from services.demo.scenario import SampleMonorepo
from services.devenv.redis_server import RedisServer
from services.devenv.registry import Registry
from tests.stack import stack_up

NAMESPACE = "team-a"
CELERY_KEYS = re.compile(r"^(shipline\.[a-z]+|unacked(_index|_mutex)?|_kombu\.binding[._].+)$")


def test_a_push_deploys_with_every_shipline_key_under_the_configured_namespace(
    tmp_path: Path,
    docker_host: str,
    registry: Registry,
    base_image: str,
    trivy_path: Path,
) -> None:
    sample = SampleMonorepo(tmp_path, name="namespaced/microbank")
    sample.create(f"{registry.host}/namespaced", base_image)
    with (
        RedisServer(tmp_path / "redis", unix_socket=True) as server,  # this stack's keys only
        NotificationReceiver() as receiver,
    ):
        client = redis.Redis.from_url(server.url)
        with stack_up(
            tmp_path, sample, registry, receiver, client, docker_host, trivy_path,
            redis_url=server.url, redis_namespace=NAMESPACE,
        ) as stack:  # fmt: skip
            push = sample.append("user_service/app.txt", "Namespaced.", "feat(user): namespaced")

            response = stack.push_webhook(push)

            assert response.status_code == 202, response.text
            run = stack.wait_for_run(response.json()["run_id"])
            keys = sorted(key.decode() for key in client.scan_iter(count=1000))
        client.close()

    assert run["status"] == "succeeded", run
    image = f"{registry.host}/namespaced/user-service:sha-{push.after[:7]}"
    assert f"image: {image}" in sample.remote_file("k8s/manifests/user-service/deployment.yaml")
    outside = [key for key in keys if not key.startswith(f"{NAMESPACE}:")]
    assert [key for key in outside if not CELERY_KEYS.match(key)] == []
    assert f"{NAMESPACE}:run:{run['run_id']}" in keys
    assert not any(key.startswith("shipline:") for key in keys)

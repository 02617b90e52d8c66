"""A poison message on a real worker's queue: kept as a dead letter, shown by the API,
and the worker carries on with the next message."""

from __future__ import annotations

import os

from fastapi.testclient import TestClient

from services.common.bus import queue_name, task_name
from services.common.runtime import Runtime
from services.common.settings import Settings
from services.gateway.app import create_app
from tests.workers import Workers, wait_until

TOKEN = "poison-test-api-token-0123456789"


def test_a_poison_message_is_dead_lettered_by_a_real_worker_and_listed_by_the_api(
    tmp_path, redis_url, redis_client
) -> None:
    env = {
        **os.environ,
        "SHIPLINE_REDIS_URL": redis_url,
        "SHIPLINE_WORKDIR": str(tmp_path),
        "SHIPLINE_LOG_FORMAT": "json",
    }
    env.pop("SHIPLINE_CONFIG", None)
    workers = Workers(env, tmp_path / "workers.log")
    workers.start("scanner")
    runtime = Runtime(Settings(redis_url=redis_url, workdir=tmp_path, api_tokens=[TOKEN]))
    try:
        for poison in ('{"type": "ImagePushed", "run_id": "r"', 42):
            runtime.celery.send_task(
                task_name("scanner"), args=[poison], queue=queue_name("scanner")
            )
        with TestClient(create_app(runtime.settings, runtime)) as api:
            api.headers["Authorization"] = f"Bearer {TOKEN}"

            def both_kept() -> bool:
                return api.get("/api/v1/dead-letters").json()["total"] == 2

            wait_until(both_kept, 60, "the worker to dead-letter both poison messages")
            letters = api.get("/api/v1/dead-letters").json()["dead_letters"]
            assert {letter["cause"] for letter in letters} == {"undecodable"}
            assert {letter["payload"] for letter in letters} == {
                '{"type": "ImagePushed", "run_id": "r"',
                "42",
            }
            assert api.post(f"/api/v1/dead-letters/{letters[0]['id']}/republish").status_code == 409
        assert redis_client.llen(queue_name("scanner")) == 0
    finally:
        workers.stop_all()
        runtime.celery.close()
        runtime.redis.close()

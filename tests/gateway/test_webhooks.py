"""The GitHub webhook receiver, in-process through TestClient, on a real Redis."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator

import httpx
import pytest
import redis
from fastapi.testclient import TestClient

from services.common.bus import queue_name
from services.common.events import decode_event
from services.common.limits import Limits
from services.common.settings import Repository, Settings
from services.devenv.redis_server import RedisServer
from services.gateway.app import create_app
from services.gateway.github import sign
from tests.gateway.reader import READ_TOKEN, READER

SECRET = "webhook-secret-for-tests-0123"
REPO = "acme/microbank"
SHA_A, SHA_B = "a" * 40, "b" * 40


def push_body(
    ref: str = "refs/heads/main", repo: str = REPO, before: str = SHA_A, after: str = SHA_B
) -> bytes:
    return json.dumps(
        {
            "ref": ref,
            "before": before,
            "after": after,
            "repository": {"full_name": repo},
            "pusher": {"name": "dana"},
            "commits": [{"id": SHA_B, "message": "feat: x", "modified": ["user_service/a"]}],
        }
    ).encode()


def headers(body: bytes, event: str = "push", delivery: str = "d-1", secret: str = SECRET):
    return {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": sign(secret, body),
        "Content-Type": "application/json",
    }


@pytest.fixture
def client(redis_url: str, redis_client: redis.Redis, tmp_path) -> Iterator[TestClient]:
    settings = Settings(
        redis_url=redis_url,
        workdir=tmp_path,
        repositories=[
            Repository(name=REPO, url="file:///nowhere", webhook_secret=SECRET, branches=["main"])
        ],
        max_body_bytes=64_000,
        api_tokens=[READ_TOKEN],
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def queued(redis_client: redis.Redis, stage: str = "detector") -> list[dict]:
    return [json.loads(m) for m in redis_client.lrange(queue_name(stage), 0, -1)]


def nothing_recorded(redis_client: redis.Redis) -> bool:
    return (
        not queued(redis_client)
        and redis_client.zcard("shipline:runs") == 0
        and not redis_client.exists("shipline:events")
    )


def test_a_signed_push_is_accepted_with_a_run_id_and_queued_for_the_detector(client, redis_client):
    body = push_body()

    response = client.post("/webhooks/github", content=body, headers=headers(body))

    assert response.status_code == 202
    run_id = response.json()["run_id"]
    [message] = queued(redis_client)
    event = decode_event(_task_args(message)[0])
    assert event.type == "PushReceived"
    assert (event.run_id, event.after, event.repository) == (run_id, SHA_B, REPO)
    assert client.get(f"/api/v1/runs/{run_id}", headers=READER).json()["status"] == "queued"


def _task_args(message: dict) -> list[str]:
    """A Celery message body (base64 JSON of [args, kwargs, embed]) → the task's args."""
    args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
    return args


def test_a_bad_signature_is_refused_with_401_and_nothing_is_queued(client, redis_client):
    body = push_body()

    response = client.post(
        "/webhooks/github", content=body, headers=headers(body, secret="wrong-secret-value")
    )

    assert response.status_code == 401
    assert "signature" in response.json()["detail"].lower()
    assert nothing_recorded(redis_client)


def test_a_missing_signature_is_refused_with_401(client, redis_client):
    body = push_body()
    unsigned = {k: v for k, v in headers(body).items() if k != "X-Hub-Signature-256"}

    assert client.post("/webhooks/github", content=body, headers=unsigned).status_code == 401
    assert nothing_recorded(redis_client)


def test_ping_is_answered_and_other_events_are_ignored(client, redis_client):
    body = b'{"zen": "Keep it logically awesome."}'

    ping = client.post("/webhooks/github", content=body, headers=headers(body, event="ping"))
    issue = client.post("/webhooks/github", content=body, headers=headers(body, event="issues"))

    assert ping.status_code == 200
    assert issue.status_code == 202 and "ignored" in issue.json()
    assert nothing_recorded(redis_client)


def test_a_redelivered_webhook_returns_the_first_run_and_queues_nothing_more(client, redis_client):
    body = push_body()
    first = client.post("/webhooks/github", content=body, headers=headers(body, delivery="x-9"))

    again = client.post("/webhooks/github", content=body, headers=headers(body, delivery="x-9"))

    assert again.json() == {"run_id": first.json()["run_id"], "duplicate": True}
    assert len(queued(redis_client)) == 1


def test_a_replayed_push_under_a_new_delivery_id_returns_the_first_run(client, redis_client):
    body = push_body()
    first = client.post("/webhooks/github", content=body, headers=headers(body, delivery="r-1"))

    replay = client.post("/webhooks/github", content=body, headers=headers(body, delivery="r-2"))
    again = client.post("/webhooks/github", content=body, headers=headers(body, delivery="r-2"))

    assert first.status_code == 202
    assert replay.status_code == again.status_code == 200
    assert replay.json() == again.json() == {"run_id": first.json()["run_id"], "duplicate": True}
    assert len(queued(redis_client)) == 1
    assert redis_client.zcard("shipline:runs") == 1


def test_a_replay_is_remembered_for_the_replay_window_only(client, redis_client):
    body = push_body()
    client.post("/webhooks/github", content=body, headers=headers(body, delivery="w-1"))

    [marker] = redis_client.keys("shipline:push:*")

    assert 3500 < redis_client.ttl(marker) <= 3600  # limits.replay_window_seconds


def test_a_new_push_of_the_same_ref_starts_its_own_run(client, redis_client):
    first, second = push_body(), push_body(before=SHA_B, after="c" * 40)
    one = client.post("/webhooks/github", content=first, headers=headers(first, delivery="n-1"))

    two = client.post("/webhooks/github", content=second, headers=headers(second, delivery="n-2"))

    assert (one.status_code, two.status_code) == (202, 202)
    assert one.json()["run_id"] != two.json()["run_id"]
    assert len(queued(redis_client)) == 2


def test_the_same_update_again_after_the_ref_moved_elsewhere_is_a_push_not_a_replay(
    client, redis_client
):
    """a..b, then a force push back (b..a), then a..b again: each is real and deploys."""
    forth, back = push_body(), push_body(before=SHA_B, after=SHA_A)
    runs = [
        client.post("/webhooks/github", content=body, headers=headers(body, delivery=delivery))
        for body, delivery in ((forth, "f-1"), (back, "f-2"), (forth, "f-3"))
    ]
    replay = client.post("/webhooks/github", content=forth, headers=headers(forth, delivery="f-4"))

    assert [run.status_code for run in runs] == [202, 202, 202]
    assert len({run.json()["run_id"] for run in runs}) == 3
    assert replay.status_code == 200
    assert replay.json() == {"run_id": runs[2].json()["run_id"], "duplicate": True}
    assert len(queued(redis_client)) == 3


def test_with_the_replay_window_off_a_replay_starts_a_run(redis_url, redis_client, tmp_path):
    settings = Settings(
        redis_url=redis_url,
        workdir=tmp_path,
        repositories=[Repository(name=REPO, url="file:///nowhere", webhook_secret=SECRET)],
        limits=Limits(replay_window_seconds=0),
    )
    body = push_body()
    with TestClient(create_app(settings)) as client:
        for delivery in ("o-1", "o-2"):
            response = client.post(
                "/webhooks/github", content=body, headers=headers(body, delivery=delivery)
            )
            assert response.status_code == 202

    assert len(queued(redis_client)) == 2


def test_the_intake_dedupes_deliveries_and_replays_on_redis_6_2(tmp_path, redis_6_2_binary):
    """Redis 6.2, the oldest supported: no SET with both NX and GET."""
    with RedisServer(tmp_path / "redis", unix_socket=True, binary=redis_6_2_binary) as server:
        assert server.version.startswith("Redis 6.2.")
        settings = Settings(
            redis_url=server.url,
            workdir=tmp_path,
            repositories=[Repository(name=REPO, url="file:///nowhere", webhook_secret=SECRET)],
        )
        body = push_body()
        with TestClient(create_app(settings)) as client:
            answers = [
                client.post("/webhooks/github", content=body, headers=headers(body, delivery=d))
                for d in ("e-1", "e-1", "e-2")
            ]
        assert [answer.status_code for answer in answers] == [202, 200, 200]
        assert len({answer.json()["run_id"] for answer in answers}) == 1
        oldest = redis.Redis.from_url(server.url)
        assert oldest.llen(queue_name("detector")) == 1
        oldest.close()


def test_a_push_to_a_branch_that_is_not_configured_is_ignored(client, redis_client):
    body = push_body(ref="refs/heads/feature/x")

    response = client.post("/webhooks/github", content=body, headers=headers(body))

    assert response.status_code == 202 and "not configured" in response.json()["ignored"]
    assert nothing_recorded(redis_client)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (b'{"ref": "refs/heads/main"}', 422),
        (push_body(ref="refs/heads/main;rm -rf"), 422),
        (push_body(ref="refs/heads/../../etc"), 422),
    ],
)
def test_malformed_pushes_get_a_clear_4xx_and_nothing_runs(client, redis_client, body, status):
    response = client.post("/webhooks/github", content=body, headers=headers(body))

    assert response.status_code == status
    assert response.json()["detail"]
    assert nothing_recorded(redis_client)


def test_a_body_over_the_limit_gets_413(client, redis_client):
    body = b"{" + b" " * 70_000 + b"}"

    response = client.post("/webhooks/github", content=body, headers=headers(body))

    assert response.status_code == 413
    assert nothing_recorded(redis_client)


def test_a_repository_signed_with_another_repositorys_secret_is_refused(client, redis_client):
    body = push_body(repo="evil/other")

    response = client.post("/webhooks/github", content=body, headers=headers(body))

    assert response.status_code == 403
    assert nothing_recorded(redis_client)


def test_the_webhook_answers_503_when_redis_is_down(tmp_path):
    settings = Settings(
        redis_url="redis://127.0.0.1:1/0",
        workdir=tmp_path,
        repositories=[Repository(name=REPO, url="file:///nowhere", webhook_secret=SECRET)],
    )
    body = push_body()
    with TestClient(create_app(settings)) as client:
        response = client.post("/webhooks/github", content=body, headers=headers(body))
        ready = client.get("/readyz")

    assert response.status_code == 503
    assert "retry later" in response.json()["detail"]
    assert response.headers["Retry-After"] == "5"
    assert ready.status_code == 503


def test_an_accepted_push_is_recorded_logged_and_queued_together(client, redis_client):
    body = push_body()

    run_id = client.post("/webhooks/github", content=body, headers=headers(body)).json()["run_id"]

    run = {
        k.decode(): v.decode() for k, v in redis_client.hgetall(f"shipline:run:{run_id}").items()
    }
    assert run["status"] == "queued" and run["trigger"] == "push"
    assert (run["repository"], run["commit"], run["delivery_id"]) == (REPO, SHA_B, "d-1")
    assert run["message"] == "feat: x"  # the push's projection, in the same hash
    assert redis_client.zscore("shipline:runs", run_id) == pytest.approx(float(run["created_at"]))
    [(_, logged)] = redis_client.xrange(f"shipline:run:{run_id}:events")
    logged_event = decode_event(logged[b"event"].decode())
    [message] = queued(redis_client)
    assert message["headers"]["id"] == str(logged_event.event_id)
    assert redis_client.exists(f"shipline:logged:{logged_event.event_id}")
    assert redis_client.xlen("shipline:events") == 1


def test_a_push_is_accepted_after_redis_forgot_the_intake_script(client, redis_client):
    first, second = push_body(), push_body(before=SHA_B, after="c" * 40)
    client.post("/webhooks/github", content=first, headers=headers(first, delivery="s-1"))
    redis_client.script_flush()  # what a Redis restart does to cached scripts

    response = client.post(
        "/webhooks/github", content=second, headers=headers(second, "push", "s-2")
    )

    assert response.status_code == 202
    assert len(queued(redis_client)) == 2


def test_concurrent_redeliveries_start_one_run(redis_url, redis_client, tmp_path):
    """Many copies of one delivery in flight at once (one batch of the group commit):
    exactly one run, and every copy answers with its id."""
    settings = Settings(
        redis_url=redis_url,
        workdir=tmp_path,
        repositories=[Repository(name=REPO, url="file:///nowhere", webhook_secret=SECRET)],
    )
    app = create_app(settings)
    body = push_body()

    async def deliver_many() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
            sends = [
                http.post("/webhooks/github", content=body, headers=headers(body, delivery="same"))
                for _ in range(20)
            ]
            answers = await asyncio.gather(*sends)
            await app.state.intake.aclose()
            return answers

    answers = asyncio.run(deliver_many())

    run_ids = {answer.json()["run_id"] for answer in answers}
    assert len(run_ids) == 1
    assert sorted(answer.status_code for answer in answers) == [200] * 19 + [202]
    assert len(queued(redis_client)) == 1
    assert redis_client.zcard("shipline:runs") == 1

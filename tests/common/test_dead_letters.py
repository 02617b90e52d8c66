"""Dead letters: what a stage gives up on is kept, listed (API) and republished (API, CLI)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest
import redis
from click.testing import CliRunner
from fastapi.testclient import TestClient

from services.cli import main
from services.common.bus import queue_name
from services.common.errors import PermanentError, TransientError
from services.common.events import Envelope, ImagePushed, RunCompleted, decode_event, encode_event
from services.common.replay import DeadLetterNotFound, NotReplayable, republish
from services.common.runtime import Runtime
from services.common.settings import Settings
from services.common.stage import RetryLater, StageRunner
from services.gateway.app import create_app
from tests.api_server import serving
from tests.common.test_stage import (
    MAX_RETRIES,
    SERVICE,
    image_pushed,
    passing_scanner,
    planned_run,
    raising,
    scanner,
)

TOKEN = "dead-letter-test-token-0123456789"


@pytest.fixture
def runtime(redis_url: str, redis_client: redis.Redis, tmp_path) -> Iterator[Runtime]:
    settings = Settings(
        redis_url=redis_url, workdir=tmp_path, max_retries=MAX_RETRIES, api_tokens=[TOKEN]
    )
    runtime = Runtime(settings)
    yield runtime
    if "celery" in runtime.__dict__:
        runtime.celery.close()
    runtime.redis.close()


@pytest.fixture
def api(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime.settings, runtime)) as client:
        client.headers["Authorization"] = f"Bearer {TOKEN}"
        yield client


def queued(redis_client: redis.Redis, stage: str) -> list[Envelope]:
    events = []
    for raw in reversed(redis_client.lrange(queue_name(stage), 0, -1)):
        args, _kwargs, _embed = json.loads(base64.b64decode(json.loads(raw)["body"]))
        events.append(decode_event(args[0]))
    return events


def fail_for_good(runtime: Runtime, error: Exception) -> ImagePushed:
    """Run a scanner that raises `error` on every attempt until the runner gives up."""
    planned_run(runtime)
    event = image_pushed()
    runner = StageRunner(scanner(raising(error, [])), runtime)
    for attempt in range(1, MAX_RETRIES + 2):
        try:
            runner.process(encode_event(event), attempt=attempt)
        except RetryLater:
            continue
    return event


def test_an_event_whose_transient_failures_outlast_the_retries_is_dead_lettered(runtime):
    event = fail_for_good(runtime, TransientError("registry answered 503"))

    [letter] = runtime.dead_letters.newest_first()
    assert (letter.stage, letter.cause, letter.attempts) == (
        "scanner",
        "retries-exhausted",
        MAX_RETRIES + 1,
    )
    assert (letter.event_id, letter.run_id, letter.service) == (
        str(event.event_id),
        "run-1",
        SERVICE,
    )
    assert decode_event(letter.payload) == event
    assert letter.message == "registry answered 503"


def test_a_transient_failure_is_retried_with_a_growing_jittered_backoff_not_dead_lettered(
    runtime,
):
    planned_run(runtime)
    runner = StageRunner(scanner(raising(TransientError("connection reset"), [])), runtime)
    countdowns = []
    for attempt in range(1, MAX_RETRIES + 1):
        with pytest.raises(RetryLater) as later:
            runner.process(encode_event(image_pushed()), attempt=attempt)
        countdowns.append(later.value.countdown)

    assert all(0 <= c <= 2 ** (n - 1) for n, c in enumerate(countdowns, start=1))
    assert runtime.dead_letters.count() == 0


def test_a_permanent_failure_is_dead_lettered_at_the_first_attempt(runtime):
    calls: list[Envelope] = []
    planned_run(runtime)
    runner = StageRunner(scanner(raising(PermanentError("bad Dockerfile"), calls)), runtime)

    runner.process(encode_event(image_pushed()), attempt=1)

    assert len(calls) == 1
    [letter] = runtime.dead_letters.newest_first()
    assert (letter.cause, letter.attempts, letter.error_class) == ("permanent", 1, "PermanentError")


def test_a_poison_message_that_cannot_be_decoded_is_dead_lettered_with_its_payload(runtime):
    calls: list[Envelope] = []
    runner = StageRunner(scanner(passing_scanner(calls)), runtime)

    runner.process('{"type": "ImagePushed", "run_id": "run-1", "digest": "nope"')

    assert calls == []
    [letter] = runtime.dead_letters.newest_first()
    assert letter.cause == "undecodable"
    assert letter.payload.startswith('{"type": "ImagePushed"')
    assert letter.event_id is None


def test_an_event_for_another_stage_is_dead_lettered_not_handled(runtime):
    calls: list[Envelope] = []
    runner = StageRunner(scanner(passing_scanner(calls)), runtime)
    completed = RunCompleted(run_id="run-1", status="succeeded")

    runner.process(encode_event(completed))

    assert calls == []
    [letter] = runtime.dead_letters.newest_first()
    assert (letter.cause, letter.event_type) == ("wrong-stage", "RunCompleted")


def test_a_failure_redelivered_after_a_crash_is_kept_once(runtime):
    planned_run(runtime)
    runner = StageRunner(scanner(raising(PermanentError("bad"), [])), runtime)
    payload = encode_event(image_pushed())
    runner.process(payload)
    runtime.redis.delete(f"shipline:done:scanner:{image_pushed().event_id}")

    runner.process(payload)  # the worker died before it recorded the event as done

    assert runtime.dead_letters.count() == 1


def test_a_republished_dead_letter_is_queued_under_a_new_id_and_its_run_completes_again(
    runtime, redis_client
):
    event = fail_for_good(runtime, PermanentError("registry refused the credentials"))
    [first] = [e for e in queued(redis_client, "notifier") if isinstance(e, RunCompleted)]
    redis_client.delete(queue_name("notifier"))
    [letter] = runtime.dead_letters.newest_first()

    replayed = republish(runtime, letter.id)

    [queued_event] = queued(redis_client, "scanner")
    assert queued_event == replayed and replayed.event_id != event.event_id
    assert replayed.model_dump(exclude={"event_id"}) == event.model_dump(exclude={"event_id"})
    assert runtime.runs.get("run-1").status == "running"  # type: ignore[union-attr]
    StageRunner(scanner(raising(PermanentError("still refused"), [])), runtime).process(
        encode_event(replayed)
    )
    [again] = [e for e in queued(redis_client, "notifier") if isinstance(e, RunCompleted)]
    assert again.event_id != first.event_id and again.status == "failed"
    assert runtime.dead_letters.get(letter.id).replays == 1  # type: ignore[union-attr]
    assert runtime.dead_letters.count() == 2  # the replay failed again: a letter of its own


def test_a_poison_message_cannot_be_republished_and_an_unknown_id_is_not_found(runtime):
    StageRunner(scanner(passing_scanner([])), runtime).process("not json at all")
    [letter] = runtime.dead_letters.newest_first()

    with pytest.raises(NotReplayable):
        republish(runtime, letter.id)
    with pytest.raises(DeadLetterNotFound):
        republish(runtime, "scanner-0000000000000000")


# --- the API and the CLI -------------------------------------------------------------------


def test_the_api_lists_dead_letters_newest_first_with_the_reason(runtime, api):
    fail_for_good(runtime, PermanentError("policy file is invalid"))

    answer = api.get("/api/v1/dead-letters").json()

    assert answer["total"] == 1
    [letter] = answer["dead_letters"]
    assert (letter["stage"], letter["cause"], letter["message"]) == (
        "scanner",
        "permanent",
        "policy file is invalid",
    )
    assert api.get(f"/api/v1/dead-letters/{letter['id']}").json()["id"] == letter["id"]


def test_dead_letters_need_a_bearer_token(runtime, api):
    del api.headers["Authorization"]
    assert api.get("/api/v1/dead-letters").status_code == 401
    assert api.post("/api/v1/dead-letters/scanner-0000000000000000/republish").status_code == 401
    api.headers["Authorization"] = "Bearer not-a-known-token"
    assert api.get("/api/v1/dead-letters").status_code == 403


def test_the_api_republishes_a_dead_letter_onto_its_stage_queue(runtime, api, redis_client):
    fail_for_good(runtime, PermanentError("bad"))
    [letter] = runtime.dead_letters.newest_first()

    response = api.post(f"/api/v1/dead-letters/{letter.id}/republish")

    assert response.status_code == 202
    assert response.json()["queue"] == "scanner"
    [queued_event] = queued(redis_client, "scanner")
    assert str(queued_event.event_id) == response.json()["event_id"]


def test_the_api_answers_404_for_an_unknown_letter_409_for_a_poison_one_422_for_a_bad_id(
    runtime, api
):
    StageRunner(scanner(passing_scanner([])), runtime).process("\x00garbage")
    [letter] = runtime.dead_letters.newest_first()

    assert api.post("/api/v1/dead-letters/scanner-0000000000000000/republish").status_code == 404
    assert api.post(f"/api/v1/dead-letters/{letter.id}/republish").status_code == 409
    assert api.get("/api/v1/dead-letters/..%2F..%2Fetc").status_code in (404, 422)
    assert api.get("/api/v1/dead-letters/Not_An-Id").status_code == 422


def test_shipline_publish_from_dead_letter_requeues_the_event_through_the_api(
    runtime, redis_client
):
    event = fail_for_good(runtime, PermanentError("bad"))
    [letter] = runtime.dead_letters.newest_first()

    with serving(create_app(runtime.settings)) as url:
        env = {"SHIPLINE_URL": url, "SHIPLINE_TOKEN": TOKEN}
        result = CliRunner().invoke(main, ["publish", "--from-dead-letter", letter.id], env=env)
        missing = CliRunner().invoke(
            main, ["publish", "--from-dead-letter", "scanner-" + "0" * 16], env=env
        )

    assert result.exit_code == 0, result.output
    assert f"republished dead letter {letter.id}: ImagePushed" in result.output
    [queued_event] = queued(redis_client, "scanner")
    assert queued_event.run_id == event.run_id
    assert missing.exit_code == 1 and "HTTP 404: no dead letter" in missing.output


def test_redis_failing_inside_a_handler_requeues_the_event_instead_of_failing_the_service(
    runtime, redis_client
):
    planned_run(runtime)
    runner = StageRunner(scanner(raising(redis.ConnectionError("Connection refused"), [])), runtime)

    with pytest.raises(redis.ConnectionError):
        runner.process(encode_event(image_pushed()))

    assert runtime.dead_letters.count() == 0
    assert queued(redis_client, "notifier") == []
    assert runtime.runs.get("run-1").services[SERVICE].status != "failed"  # type: ignore[union-attr]

"""Work a handler leaves for after the publish (services/common/after_publish.py), on the
real stage runner and real Redis: done once the outputs are queued and before the event is
marked done, never for a handler that failed, and its failure never undoes the event."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
import redis
from structlog.testing import capture_logs

from services.common.after_publish import after_publish
from services.common.errors import PermanentError
from services.common.events import Envelope, ImagePushed, StageFailed, encode_event
from services.common.runtime import Runtime
from services.common.stage import Handler, StageRunner
from tests.common.test_stage import image_pushed, queued, runtime, scan_passed, scanner

__all__ = ["runtime"]


def leaving(work: list[str], then_raise: Exception | None = None, fail_work: bool = False):
    def factory(rt: Runtime) -> Handler:
        def handle(event: Envelope) -> Sequence[Envelope]:
            assert isinstance(event, ImagePushed)
            done_key = rt.keyspace.stage_done("scanner", event.event_id)

            def afterwards() -> None:
                published = [e.type for e in queued(rt.redis, "committer")]  # type: ignore[arg-type]
                work.append(f"published={published} done={bool(rt.redis.exists(done_key))}")
                if fail_work:
                    raise RuntimeError("the registry is away")

            after_publish(afterwards)
            if then_raise is not None:
                raise then_raise
            return (scan_passed(event),)

        return handle

    return factory


def test_the_work_is_done_after_the_outputs_are_queued_and_before_the_event_is_done(
    runtime: Runtime, redis_client: redis.Redis
) -> None:
    work: list[str] = []
    event = image_pushed()

    StageRunner(scanner(leaving(work), tracks_service=False), runtime).process(encode_event(event))

    assert work == ["published=['ScanPassed'] done=False"]
    assert redis_client.exists(runtime.keyspace.stage_done("scanner", event.event_id))


def test_work_that_fails_is_logged_and_the_event_is_still_done_with_its_outputs(
    runtime: Runtime, redis_client: redis.Redis
) -> None:
    work: list[str] = []
    event = image_pushed()
    runner = StageRunner(scanner(leaving(work, fail_work=True), tracks_service=False), runtime)

    # whatever output an earlier test configured the logs for
    with capture_logs() as logs:
        runner.process(encode_event(event))

    assert len(work) == 1
    assert [e.type for e in queued(redis_client, "committer")] == ["ScanPassed"]
    assert redis_client.exists(runtime.keyspace.stage_done("scanner", event.event_id))
    assert "work after publishing failed" in [line["event"] for line in logs]


def test_a_handler_that_fails_leaves_no_work_done(
    runtime: Runtime, redis_client: redis.Redis
) -> None:
    work: list[str] = []
    failing = leaving(work, then_raise=PermanentError("no such image"))

    StageRunner(scanner(failing, tracks_service=False), runtime).process(
        encode_event(image_pushed())
    )

    assert work == []
    assert StageFailed in [type(e) for e in queued(redis_client, "notifier")]


def test_redis_away_during_the_work_leaves_the_event_undone_for_its_redelivery(
    runtime: Runtime, redis_client: redis.Redis
) -> None:
    event = image_pushed()

    def factory(_: Runtime) -> Handler:
        def handle(incoming: Envelope) -> Sequence[Envelope]:
            assert isinstance(incoming, ImagePushed)

            def afterwards() -> None:
                raise redis.ConnectionError("Redis restarted")

            after_publish(afterwards)
            return (scan_passed(incoming),)

        return handle

    runner = StageRunner(scanner(factory, tracks_service=False), runtime)
    with pytest.raises(redis.ConnectionError):
        runner.process(encode_event(event))

    assert not redis_client.exists(runtime.keyspace.stage_done("scanner", event.event_id))
    assert not redis_client.exists(runtime.keyspace.stage_claim("scanner", event.event_id))


def test_outside_a_stage_runner_the_work_is_done_at_once() -> None:
    work: list[str] = []

    after_publish(lambda: work.append("done"))

    assert work == ["done"]

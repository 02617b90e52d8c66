"""An event published again after its service moved on: a stage killed after its publish
and before its done marker handles the event again on redelivery, and publishes the same
event (same id) once more. The crash-safety chaos run caught a scanner killed while making
the SBOM: its second ScanPassed came after the committer had deployed the service, and the
run showed the service `running` again under a `succeeded` run."""

from __future__ import annotations

import redis

from services.common.runtime import Runtime
from tests.common.test_runs import (
    RUN,
    change_detected,
    image_pushed,
    manifest_committed,
    planned,
    scan_passed,
)
from tests.common.test_stage import queued, runtime

__all__ = ["runtime"]

SERVICE = "user-service"


def test_a_scan_published_again_after_the_deploy_leaves_the_service_deployed(
    runtime: Runtime, redis_client: redis.Redis
) -> None:
    planned(runtime.runs, SERVICE)
    scanned = scan_passed(SERVICE)
    for event in (
        change_detected(SERVICE),
        image_pushed(SERVICE),
        scanned,
        manifest_committed(SERVICE),
    ):
        runtime.bus.publish(event)
    before = runtime.runs.get(RUN)
    assert before is not None and before.status == "succeeded"
    logged = len(runtime.event_log.for_run(RUN))

    runtime.bus.publish(scanned)

    after = runtime.runs.get(RUN)
    assert after is not None and after.status == "succeeded"
    assert after.services[SERVICE] == before.services[SERVICE]
    assert after.services[SERVICE].status == "succeeded"
    assert len(runtime.event_log.for_run(RUN)) == logged


def test_a_deploy_published_again_still_completes_its_run_again(
    runtime: Runtime, redis_client: redis.Redis
) -> None:
    """Its fields are not written twice, but its claim of the run's completion answers as
    the first time: a committer killed between its publish and the RunCompleted's publishes
    the RunCompleted on redelivery."""
    planned(runtime.runs, SERVICE)
    completing = manifest_committed(SERVICE)
    runtime.bus.publish(completing)
    completions_before = _completions(redis_client)

    runtime.bus.publish(completing)

    assert _completions(redis_client) == completions_before + 1


def _completions(client: redis.Redis) -> int:
    return sum(event.type == "RunCompleted" for event in queued(client, "notifier"))

"""An event published again after its service moved on: a stage killed after its publish
and before its done marker handles the event again on redelivery, and publishes the same
event (same id) once more. The crash-safety chaos run caught a scanner killed while making
the SBOM: its second ScanPassed came after the committer had deployed the service, and the
run showed the service `running` again under a `succeeded` run."""

from __future__ import annotations

from pathlib import Path

import redis

from services.common.events import ManifestCommitted
from services.common.runtime import Runtime
from services.common.settings import Settings
from tests.common.test_runs import (
    RUN,
    SOURCE,
    change_detected,
    image_pushed,
    planned,
    scan_passed,
)

SERVICE = "user-service"


def deployed(service: str) -> ManifestCommitted:
    return ManifestCommitted(
        run_id=RUN,
        service=service,
        source=SOURCE,
        manifest_path=f"k8s/{service}.yaml",
        old_image=f"127.0.0.1:5000/microbank/{service}:sha-1111111",
        new_image=f"127.0.0.1:5000/microbank/{service}:sha-0123456",
        gitops_repository="acme/microbank",
        gitops_commit="c" * 40,
        branch="main",
    )


def test_a_scan_published_again_after_the_deploy_leaves_the_service_deployed(
    redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    runtime = Runtime(Settings(redis_url=redis_url, workdir=tmp_path))
    planned(runtime.runs, SERVICE)
    scanned = scan_passed(SERVICE)
    for event in (change_detected(SERVICE), image_pushed(SERVICE), scanned, deployed(SERVICE)):
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
    redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    """Its fields are not written twice, but its claim of the run's completion answers as
    the first time: a committer killed between its publish and the RunCompleted's publishes
    the RunCompleted on redelivery."""
    runtime = Runtime(Settings(redis_url=redis_url, workdir=tmp_path))
    planned(runtime.runs, SERVICE)
    completing = deployed(SERVICE)
    runtime.bus.publish(completing)
    completions_before = _completions(redis_client)

    runtime.bus.publish(completing)

    assert _completions(redis_client) == completions_before + 1


def _completions(client: redis.Redis) -> int:
    return sum(b"RunCompleted of run" in m for m in client.lrange("shipline.notifier", 0, -1))

"""Events by hand are requests, never verdicts (issue 17, V2, V3 by event, V5): a token holder
attacks a running `shipline up` (tests/stack.py) through POST /api/v1/events."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest

from services.common.events import ScanPassed, Source
from services.common.runtime import Runtime
from services.common.settings import Settings
from tests.stack import API_TOKEN, Stack

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
EVIL = "evil.example.com/backdoor"
QUIET_SECONDS = 3  # how long the pipeline is watched for doing something it must not


def publish(stack: Stack, event: dict[str, Any]) -> httpx.Response:
    body = {"event_id": str(uuid.uuid4()), **event}
    return httpx.post(f"{stack.api}/api/v1/events", json=body, headers=AUTH, timeout=60)


def get_run(stack: Stack, run_id: str) -> httpx.Response:
    return stack.get(f"/api/v1/runs/{run_id}", timeout=5)


def source(stack: Stack, commit: str) -> dict[str, str]:
    return {"repository": stack.sample.name, "commit": commit, "ref": "refs/heads/main"}


def notified_about(stack: Stack, run_id: str) -> list[dict[str, Any]]:
    return [body for body in stack.receiver.received if body.get("run_id") == run_id]


@pytest.fixture(scope="module")
def deployed(stack: Stack) -> dict[str, Any]:
    """A real run that built, scanned and deployed user-service."""
    push = stack.sample.append("user_service/app.txt", "Statements.", "feat(user): statements")
    run = stack.wait_for_run(stack.push_webhook(push).json()["run_id"])
    assert run["status"] == "succeeded", run
    return run


def test_v2_a_hand_scan_passed_of_a_foreign_image_is_refused_and_deploys_nothing(
    stack: Stack, deployed: dict[str, Any]
) -> None:
    head = stack.sample.remote_head().hexsha
    run_id = f"forged-scan-{uuid.uuid4().hex[:8]}"

    response = publish(
        stack,
        {
            "type": "ScanPassed",
            "run_id": run_id,
            "service": "user-service",
            "source": source(stack, deployed["commit"]),
            "image_repository": EVIL,
            "tags": ["pwned"],
            "digest": "sha256:" + "e" * 64,
            "counts": {},
            "policy": "scan passed, no findings",
        },
    )

    assert response.status_code == 422
    assert "ScanPassed cannot be published by hand" in response.json()["detail"]
    time.sleep(QUIET_SECONDS)
    assert stack.sample.remote_head().hexsha == head  # no commit in the gitops repository
    assert EVIL not in stack.sample.remote_file("k8s/manifests/user-service/deployment.yaml")
    assert get_run(stack, run_id).status_code == 404  # no run: nothing was queued


def test_v3_a_hand_change_detected_naming_another_image_repository_is_refused(
    stack: Stack, deployed: dict[str, Any]
) -> None:
    run_id = f"forged-change-{uuid.uuid4().hex[:8]}"
    theirs = f"other-team-{uuid.uuid4().hex[:8]}/base-image"

    response = publish(
        stack,
        {
            "type": "ChangeDetected",
            "run_id": run_id,
            "service": "user-service",
            "source": source(stack, deployed["commit"]),
            "context": "account_service",
            "dockerfile": "account_service/Dockerfile",
            "image_repository": f"{stack.registry.host}/{theirs}",
            "tags": ["latest"],
            "reason": "forced",
        },
    )

    assert response.status_code == 422
    assert "ChangeDetected cannot be published by hand" in response.json()["detail"]
    time.sleep(QUIET_SECONDS)
    assert stack.registry.tags(theirs) == []
    assert get_run(stack, run_id).status_code == 404


def test_v5_a_hand_run_summary_and_a_hand_failure_of_a_real_run_are_refused(
    stack: Stack, deployed: dict[str, Any]
) -> None:
    real = deployed["run_id"]
    before = get_run(stack, real).json()
    forged_commit = "f" * 40
    received = len(stack.receiver.received)

    summary = publish(
        stack,
        {
            "type": "RunCompleted",
            "run_id": real,
            "status": "succeeded",
            "repository": stack.sample.name,
            "commit": forged_commit,
        },
    )
    failure = publish(
        stack,
        {
            "type": "StageFailed",
            "run_id": real,
            "stage": "committer",
            "service": "user-service",
            "error_class": "PermanentError",
            "message": "rewritten by hand",
        },
    )
    rejoin = publish(
        stack,
        {
            "type": "BuildRequested",
            "run_id": real,
            "repository": stack.sample.name,
            "ref": "refs/heads/main",
            "services": ["account-service"],
        },
    )

    assert summary.status_code == 422 and "RunCompleted cannot" in summary.json()["detail"]
    assert failure.status_code == 422 and "StageFailed cannot" in failure.json()["detail"]
    assert rejoin.status_code == 409 and f"run {real} exists" in rejoin.json()["detail"]
    time.sleep(QUIET_SECONDS)
    assert get_run(stack, real).json() == before  # the real run's history is unchanged
    assert len(stack.receiver.received) == received  # no notification, no commit status
    assert not [b for b in stack.receiver.received if forged_commit in str(b)]


def test_a_hand_redeploy_of_the_services_own_image_in_the_registry_is_committed(
    stack: Stack, deployed: dict[str, Any]
) -> None:
    image = deployed["services"]["user-service"]
    repository = image["image"].rsplit(":", 1)[0]
    digest = stack.registry.manifest_digest("microbank/user-service", "latest")
    assert digest == image["digest"]
    run_id = f"redeploy-{uuid.uuid4().hex[:8]}"

    response = publish(
        stack,
        {
            "type": "ImagePushed",
            "run_id": run_id,
            "service": "user-service",
            "source": source(stack, deployed["commit"]),
            "image_repository": repository,
            "tags": ["latest"],
            "digest": digest,
        },
    )

    assert response.status_code == 202, response.text
    run = stack.wait_for_run(run_id)
    assert run["status"] == "succeeded", run
    head = stack.sample.remote_head()
    assert head.hexsha == run["services"]["user-service"]["gitops_commit"]
    assert head.message.startswith(f"chore(user-service): deploy {repository}:latest")
    manifest = stack.sample.remote_file("k8s/manifests/user-service/deployment.yaml")
    assert f"image: {repository}:latest" in manifest


@pytest.mark.parametrize(
    ("change", "status", "detail"),
    [
        ({"image_repository": EVIL}, 422, "is not the image repository of user-service"),
        ({"service": "account-service"}, 422, "is not the image repository of account-service"),
    ],
    ids=["another-host", "another-services-repository"],
)
def test_a_hand_redeploy_naming_another_repository_or_digest_is_refused(
    stack: Stack, deployed: dict[str, Any], change: dict[str, str], status: int, detail: str
) -> None:
    head = stack.sample.remote_head().hexsha
    image = deployed["services"]["user-service"]
    run_id = f"redeploy-bad-{uuid.uuid4().hex[:8]}"
    event = {
        "type": "ImagePushed",
        "run_id": run_id,
        "service": "user-service",
        "source": source(stack, deployed["commit"]),
        "image_repository": image["image"].rsplit(":", 1)[0],
        "tags": [image["image"].rsplit(":", 1)[1]],
        "digest": image["digest"],
    }

    response = publish(stack, {**event, **change})

    assert response.status_code == status, response.text
    assert detail in response.json()["detail"]
    time.sleep(1)
    assert get_run(stack, run_id).status_code == 404
    assert stack.sample.remote_head().hexsha == head


def test_a_hand_redeploy_naming_another_digest_fails_its_run_in_the_detector(
    stack: Stack, deployed: dict[str, Any]
) -> None:
    head = stack.sample.remote_head().hexsha
    image = deployed["services"]["user-service"]
    run_id = f"redeploy-digest-{uuid.uuid4().hex[:8]}"
    response = publish(
        stack,
        {
            "type": "ImagePushed",
            "run_id": run_id,
            "service": "user-service",
            "source": source(stack, deployed["commit"]),
            "image_repository": image["image"].rsplit(":", 1)[0],
            "tags": [image["image"].rsplit(":", 1)[1]],
            "digest": "sha256:" + "0" * 64,
        },
    )

    assert response.status_code == 202, response.text  # the gateway cannot ask the registry
    run = stack.wait_for_run(run_id)
    assert run["status"] == "failed", run
    assert "in the registry, not sha256:0000" in str(run["services"]["user-service"]["reason"])
    assert stack.sample.remote_head().hexsha == head


@pytest.mark.parametrize(
    ("image_repository", "digest", "reason"),
    [
        (EVIL, "sha256:" + "e" * 64, "is not an image of user-service"),
        (None, "sha256:" + "e" * 64, "the scanner recorded no verdict"),
    ],
    ids=["foreign-image", "own-repository-never-scanned"],
)
def test_v2_a_scan_passed_put_on_the_bus_behind_the_apis_back_is_not_deployed(
    stack: Stack,
    deployed: dict[str, Any],
    redis_url: str,
    image_repository: str | None,
    digest: str,
    reason: str,
) -> None:
    """Defence in depth: whoever reaches the bus still cannot make the committer deploy an
    image the scanner never recorded as passed."""
    head = stack.sample.remote_head().hexsha
    own = deployed["services"]["user-service"]["image"].rsplit(":", 1)[0]
    run_id = f"bus-forged-{uuid.uuid4().hex[:8]}"
    runtime = Runtime(Settings(redis_url=redis_url))
    runtime.runs.create(run_id, trigger="push", repository=stack.sample.name)
    runtime.runs.plan(run_id, ["user-service"])
    try:
        runtime.bus.publish(
            ScanPassed(
                run_id=run_id,
                service="user-service",
                source=Source(**source(stack, deployed["commit"])),
                image_repository=image_repository or own,
                tags=("pwned",),
                digest=digest,
                counts={},
                policy="scan passed, no findings",
            )
        )
    finally:
        runtime.celery.close()
        runtime.redis.close()

    run = stack.wait_for_run(run_id)

    assert run["status"] == "failed", run
    assert reason in run["services"]["user-service"]["reason"]
    assert stack.sample.remote_head().hexsha == head

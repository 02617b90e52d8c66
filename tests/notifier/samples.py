"""Events the channel tests notify about: one run of acme/microbank at one commit; and the
runtimes that notify them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import redis

from services.common.events import (
    Finding,
    ManifestCommitted,
    RunCompleted,
    ScanFailed,
    ServiceOutcome,
    Source,
    StageFailed,
)
from services.common.keyspace import DEFAULT_KEYSPACE
from services.common.runs import RunStore
from services.common.runtime import Runtime
from services.common.settings import Settings

RUN = "run-42"
REPOSITORY = "acme/microbank"
COMMIT = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
SOURCE = Source(repository=REPOSITORY, commit=COMMIT, ref="refs/heads/main")
REGISTRY = "127.0.0.1:5000/microbank"
USER_DIGEST = "sha256:" + "ab" * 32
ACCOUNT_DIGEST = "sha256:" + "cd" * 32
BLOCKING = "CRITICAL secret aws-access-key-id in /app/.env:3"


def user_succeeded() -> ServiceOutcome:
    return ServiceOutcome(
        status="succeeded",
        image=f"{REGISTRY}/user-service:sha-6113728",
        digest=USER_DIGEST,
        scan="passed: 2 HIGH",
        seconds=41.25,
    )


def account_blocked() -> ServiceOutcome:
    return ServiceOutcome(
        status="blocked",
        image=f"{REGISTRY}/account-service:sha-6113728",
        digest=ACCOUNT_DIGEST,
        reason=f"blocked by {BLOCKING}",
        scan="blocked: 1 CRITICAL",
        seconds=12.0,
    )


def run_completed(
    status: str = "succeeded", run_id: str = RUN, **services: ServiceOutcome
) -> RunCompleted:
    return RunCompleted(
        run_id=run_id,
        status=status,
        repository=REPOSITORY,
        commit=COMMIT,
        seconds=75.5,
        services=services or {"user-service": user_succeeded()},
    )


def mixed_run() -> RunCompleted:
    """user-service deployed, account-service blocked by the scan: the run is blocked."""
    return run_completed(
        "blocked", **{"user-service": user_succeeded(), "account-service": account_blocked()}
    )


def manifest_committed(service: str = "user-service") -> ManifestCommitted:
    return ManifestCommitted(
        run_id=RUN,
        service=service,
        source=SOURCE,
        manifest_path=f"k8s/manifests/{service}/deployment.yaml",
        old_image=f"{REGISTRY}/{service}:sha-1111111",
        new_image=f"{REGISTRY}/{service}:sha-6113728",
        digest=USER_DIGEST,
        gitops_repository=REPOSITORY,
        gitops_commit="f" * 40,
        branch="main",
    )


def scan_failed(service: str = "account-service") -> ScanFailed:
    return ScanFailed(
        run_id=RUN,
        service=service,
        source=SOURCE,
        image_repository=f"{REGISTRY}/{service}",
        tags=("sha-6113728",),
        digest=ACCOUNT_DIGEST,
        counts={"CRITICAL": 1, "HIGH": 0},
        policy="CRITICAL blocks",
        findings=(
            Finding(
                kind="secret",
                id="aws-access-key-id",
                severity="CRITICAL",
                target="/app/.env:3",
            ),
        ),
    )


def stage_failed(service: str | None = "user-service") -> StageFailed:
    return StageFailed(
        run_id=RUN,
        stage="builder",
        service=service,
        error_class="PermanentError",
        message="COPY failed: <app.txt> not found",
    )


def recorded(client: redis.Redis, summary: RunCompleted) -> RunCompleted:
    """The summary, with the run store holding what it says (as the stages would have left
    it): the notifier sends only what the store records."""
    runs = RunStore(client)
    runs.create(
        summary.run_id, trigger="push", repository=summary.repository, commit=summary.commit
    )
    runs.plan(summary.run_id, list(summary.services))
    for name, outcome in summary.services.items():
        fields = outcome.model_dump(include={"status", "image", "digest", "reason", "scan"})
        if outcome.scan_skipped is not None:
            fields["scan_skipped_by"] = outcome.scan_skipped.by
            fields["scan_skip_reason"] = outcome.scan_skipped.reason
        client.hset(DEFAULT_KEYSPACE.run_service(summary.run_id, name), mapping=fields)
    if not summary.services:
        client.hset(DEFAULT_KEYSPACE.run(summary.run_id), "expected", 0)
    return summary


class Runtimes:
    """Makes Runtimes on a test's Redis, each notifying through the channels it is given
    (channel settings or their dicts); leaving the ``with`` closes every one it made."""

    def __init__(self, redis_url: str, workdir: Path, max_retries: int) -> None:
        self._base = {"redis_url": redis_url, "workdir": str(workdir), "max_retries": max_retries}
        self._made: list[Runtime] = []

    def __call__(self, channels: list[Any]) -> Runtime:
        self._made.append(
            Runtime(Settings.model_validate({**self._base, "notifications": channels}))
        )
        return self._made[-1]

    def __enter__(self) -> Runtimes:
        return self

    def __exit__(self, *exc: object) -> None:
        for runtime in self._made:
            if "celery" in runtime.__dict__:
                runtime.celery.close()
            runtime.redis.close()

"""Runs recorded through the real run store, event by event, as the workers record them."""

from __future__ import annotations

from services.common.events import (
    ChangeDetected,
    ImagePushed,
    ManifestCommitted,
    RunCompleted,
    ScanPassed,
    Source,
    StageFailed,
)
from services.common.runs import RunStore

REPOSITORY = "acme/shop"
REGISTRY = "127.0.0.1:5000/shop"
DIGEST = "sha256:" + "ab" * 32


def source(commit: str = "c" * 40) -> Source:
    return Source(repository=REPOSITORY, commit=commit, ref="refs/heads/main")


def started_run(runs: RunStore, run_id: str, services: list[str]) -> None:
    runs.create(run_id, trigger="push", repository=REPOSITORY, commit="c" * 40)
    runs.stage_started(run_id, None, "detector")
    runs.plan(run_id, services)
    for service in services:
        runs.apply(
            ChangeDetected(
                run_id=run_id,
                service=service,
                source=source(),
                context=f"{service}/",
                dockerfile="Dockerfile",
                image_repository=f"{REGISTRY}/{service}",
                tags=("sha-ccccccc",),
                reason="paths",
            )
        )


def built(runs: RunStore, run_id: str, service: str) -> ImagePushed:
    runs.stage_started(run_id, service, "builder")
    pushed = ImagePushed(
        run_id=run_id,
        service=service,
        source=source(),
        image_repository=f"{REGISTRY}/{service}",
        tags=("sha-ccccccc",),
        digest=DIGEST,
    )
    runs.apply(pushed)
    return pushed


def deployed(runs: RunStore, run_id: str, service: str) -> RunCompleted | None:
    pushed = built(runs, run_id, service)
    runs.stage_started(run_id, service, "scanner")
    runs.apply(
        ScanPassed(
            run_id=run_id,
            service=service,
            source=source(),
            image_repository=pushed.image_repository,
            tags=pushed.tags,
            digest=DIGEST,
            counts={},
            policy="default",
        )
    )
    runs.stage_started(run_id, service, "committer")
    return _finish(
        runs,
        ManifestCommitted(
            run_id=run_id,
            service=service,
            source=source(),
            manifest_path=f"k8s/{service}.yaml",
            old_image=f"{REGISTRY}/{service}:old",
            new_image=pushed.image,
            digest=DIGEST,
            gitops_repository=REPOSITORY,
            gitops_commit="d" * 40,
            branch="main",
        ),
    )


def build_failed(runs: RunStore, run_id: str, service: str) -> RunCompleted | None:
    runs.stage_started(run_id, service, "builder")
    return _finish(
        runs,
        StageFailed(
            run_id=run_id,
            service=service,
            stage="builder",
            error_class="PermanentError",
            message="docker build failed: exit 1",
        ),
    )


def three_outcomes(runs: RunStore) -> None:
    """cart-ok (cart deployed), both-failed (payments deployed, cart's build failed) and
    payments-running, oldest first: one run of each status for the filters."""
    started_run(runs, "cart-ok", ["cart"])
    deployed(runs, "cart-ok", "cart")
    started_run(runs, "both-failed", ["cart", "payments"])
    deployed(runs, "both-failed", "payments")
    build_failed(runs, "both-failed", "cart")
    started_run(runs, "payments-running", ["payments"])


def _finish(runs: RunStore, event: ManifestCommitted | StageFailed) -> RunCompleted | None:
    completed = runs.apply(event)
    if isinstance(completed, RunCompleted):
        runs.apply(completed)
        return completed
    return None

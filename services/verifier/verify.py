"""One verification: wait on the cluster's shared view until the committed image is healthy,
has failed, or the deadline (from the commit) passes; answer with the event that says so."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from services.common.errors import TransientError
from services.common.events import DeploymentFailed, DeploymentVerified, ManifestCommitted
from services.common.logging import get_logger
from services.verifier.rollout import Expected, Failed, Healthy, Pending, Snapshot, assess

Verdict = DeploymentVerified | DeploymentFailed


class View(Protocol):
    """What a verification needs of a cluster (services/verifier/watches.py ClusterView)."""

    @property
    def generation(self) -> int: ...

    @property
    def synced(self) -> bool: ...

    def problems(self) -> list[str]: ...

    def snapshot(self) -> Snapshot: ...

    def wait_for_change(self, seen: int, timeout: float) -> int: ...


def verify(
    committed: ManifestCommitted,
    view: View,
    deadline_seconds: float,
    pushed_at: float,
    clock: Callable[[], float],
    argocd: bool = True,
    contains: Callable[[str], bool] = lambda _revision: False,
) -> Verdict:
    """`pushed_at`: when the run started (the push), for the push-to-healthy time;
    `contains(revision)`: whether that gitops revision descends from the commit."""
    log = get_logger(image=committed.new_image)
    expected = Expected(
        service=committed.service,
        image=committed.new_image,
        digest=committed.digest,
        gitops_commit=committed.gitops_commit,
    )
    committed_at = committed.occurred_at.timestamp()
    deadline = committed_at + deadline_seconds
    seen = view.generation
    last: Pending | None = None
    while True:
        if view.synced:
            verdict = assess(expected, view.snapshot(), argocd, contains)
            match verdict:
                case Healthy():
                    now = clock()
                    log.info("rollout healthy", workload=verdict.workload)
                    return _verified(committed, verdict, now - pushed_at, now - committed_at)
                case Failed():
                    log.warning("rollout failed", condition=verdict.condition)
                    return _failed(committed, verdict.condition, verdict.reason, verdict)
            if verdict != last:
                log.info("waiting", waiting_for=verdict.waiting_for)
                last = verdict
        remaining = deadline - clock()
        if remaining <= 0:
            if not view.synced:  # never saw the cluster: that is no verdict on the rollout
                problems = "; ".join(view.problems()) or "no answer yet"
                raise TransientError(f"cluster {committed.cluster} unreachable: {problems}")
            waiting = last.waiting_for if last else "the cluster"
            reason = f"not healthy {deadline_seconds:g}s after the commit: waiting for {waiting}"
            return _failed(committed, "DeadlineExceeded", reason, last)
        seen = view.wait_for_change(seen, remaining)


def _verified(
    committed: ManifestCommitted, healthy: Healthy, seconds: float, rollout_seconds: float
) -> DeploymentVerified:
    return DeploymentVerified(
        event_id=committed.follow_up_id("DeploymentVerified"),
        **_common(committed),
        workload=healthy.workload,
        application=healthy.application,
        seconds=round(max(seconds, 0.0), 3),
        rollout_seconds=round(max(rollout_seconds, 0.0), 3),
        ready_replicas=healthy.ready_replicas,
    )


def _failed(
    committed: ManifestCommitted, condition: str, reason: str, seen: Failed | Pending | None
) -> DeploymentFailed:
    return DeploymentFailed(
        event_id=committed.follow_up_id("DeploymentFailed"),
        **_common(committed),
        workload=seen.workload if seen else "",
        application=seen.application if seen else "",
        condition=condition,
        reason=reason[:2000],
        # an automatic rollback is not itself rolled back: that could only loop
        auto_rollback=committed.auto_rollback and not committed.rollback_of,
    )


def _common(committed: ManifestCommitted) -> dict[str, Any]:
    return {
        "run_id": committed.run_id,
        "service": committed.service,
        "source": committed.source,
        "image": committed.new_image,
        "old_image": committed.old_image,
        "cluster": committed.cluster or "",
        "gitops_commit": committed.gitops_commit,
        "manifest_path": committed.manifest_path,
        "gitops_repository": committed.gitops_repository,
        "branch": committed.branch,
        "kind": committed.kind,
        "rollback_of": committed.rollback_of,
    }

"""Delivery metrics (the four DORA keys) computed from the event log. Pure: events in, numbers out.

- deployment frequency: deploy and release commits (`ManifestCommitted`, kind deploy/release)
  per day of the window; rollback commits are counted apart, as restores.
- lead time: from the run's `PushReceived` to the service's `ManifestCommitted`.
- change failure rate: failed changes over changes. A change is a service's deployment
  attempt that reached a verdict: deployed, or blocked by the scan gate. It failed when it was
  blocked (`ScanFailed`), its rollout failed (`DeploymentFailed`, from the verifier), or a
  later rollback replaced exactly the image it deployed.
- time to restore: from a failure (the block, the failed rollout, or the commit of the deploy
  later rolled back) to the service's next manifest commit of another image; failures not
  restored yet are counted as `open`.

Events are the JSON dicts the log stores; services are keyed by name.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

DAY = 86400.0
DEPLOY_KINDS = ("deploy", "release")


@dataclass
class Durations:
    count: int = 0
    median_seconds: float | None = None
    mean_seconds: float | None = None

    @classmethod
    def of(cls, seconds: list[float]) -> Durations:
        if not seconds:
            return cls()
        return cls(
            count=len(seconds),
            median_seconds=round(statistics.median(seconds), 3),
            mean_seconds=round(statistics.fmean(seconds), 3),
        )


@dataclass
class ChangeFailure:
    changes: int = 0
    failed: int = 0
    rate: float | None = None  # None: no change in the window


@dataclass
class Restore(Durations):
    open: int = 0  # failures with no restoring commit yet


@dataclass
class Metrics:
    deployments: int = 0
    deployments_per_day: float = 0.0
    rollbacks: int = 0
    lead_time: Durations = field(default_factory=Durations)
    change_failure: ChangeFailure = field(default_factory=ChangeFailure)
    time_to_restore: Restore = field(default_factory=Restore)


@dataclass
class Report:
    since: float
    until: float
    overall: Metrics
    services: dict[str, Metrics]


@dataclass(frozen=True)
class _Commit:
    at: float
    run_id: str
    kind: str
    old_image: str
    new_image: str


@dataclass(frozen=True)
class _Failure:
    at: float
    image: str  # the image the failure was about (blocked or deployed), "" if unknown


@dataclass
class _History:
    commits: list[_Commit] = field(default_factory=list)
    blocked: list[tuple[str, float, str]] = field(default_factory=list)  # run, at, image
    rollout_failed: dict[str, float] = field(default_factory=dict)  # run -> at
    lead_times: list[float] = field(default_factory=list)


def timestamp(event: Mapping[str, Any]) -> float:
    return datetime.fromisoformat(str(event["occurred_at"])).timestamp()


def compute(events: Iterable[Mapping[str, Any]], since: float, until: float) -> Report:
    """The metrics of the events that occurred in [since, until], per service and overall."""
    histories = _histories(e for e in events if since <= timestamp(e) <= until)
    days = max(until - since, 1.0) / DAY
    services = {name: _metrics([h], days) for name, h in sorted(histories.items())}
    return Report(since, until, _metrics(list(histories.values()), days), services)


def _histories(events: Iterable[Mapping[str, Any]]) -> dict[str, _History]:
    pushed_at: dict[str, float] = {}
    histories: dict[str, _History] = {}
    for event in sorted(events, key=timestamp):
        kind, at = event.get("type"), timestamp(event)
        if kind == "PushReceived":
            pushed_at.setdefault(event["run_id"], at)
            continue
        service = event.get("service")
        if not service:
            continue
        history = histories.setdefault(service, _History())
        if kind == "ManifestCommitted":
            commit = _Commit(
                at,
                event["run_id"],
                event.get("kind", "deploy"),
                event.get("old_image", ""),
                event.get("new_image", ""),
            )
            history.commits.append(commit)
            pushed = pushed_at.get(commit.run_id)
            if commit.kind in DEPLOY_KINDS and pushed is not None:
                history.lead_times.append(at - pushed)
        elif kind == "ScanFailed":
            image = f"{event.get('image_repository', '')}:{(event.get('tags') or [''])[0]}"
            history.blocked.append((event["run_id"], at, image))
        elif kind == "DeploymentFailed":
            history.rollout_failed.setdefault(event["run_id"], at)
    return histories


def _metrics(histories: list[_History], days: float) -> Metrics:
    deployments = rollbacks = changes = 0
    lead_times: list[float] = []
    restore_seconds: list[float] = []
    failed = still_open = 0
    for history in histories:
        deploys = [c for c in history.commits if c.kind in DEPLOY_KINDS]
        deployments += len(deploys)
        rollbacks += len(history.commits) - len(deploys)
        lead_times += history.lead_times
        changes += len(deploys) + len({run for run, _, _ in history.blocked})
        failures = _failures(history, deploys)
        failed += len(failures)
        for failure in failures:
            restored = _restored_at(history.commits, failure)
            if restored is None:
                still_open += 1
            else:
                restore_seconds.append(restored - failure.at)
    restore = Durations.of(restore_seconds)
    return Metrics(
        deployments=deployments,
        deployments_per_day=round(deployments / days, 3),
        rollbacks=rollbacks,
        lead_time=Durations.of(lead_times),
        change_failure=ChangeFailure(
            changes, failed, round(failed / changes, 4) if changes else None
        ),
        time_to_restore=Restore(
            restore.count, restore.median_seconds, restore.mean_seconds, still_open
        ),
    )


def _failures(history: _History, deploys: list[_Commit]) -> list[_Failure]:
    """One failure per failed change (a run's service), at the moment it failed."""
    found: dict[str, _Failure] = {}
    for run_id, at, image in history.blocked:
        found.setdefault(run_id, _Failure(at, image))
    rollbacks = [c for c in history.commits if c.kind not in DEPLOY_KINDS]
    for deploy in deploys:
        failed_at = history.rollout_failed.get(deploy.run_id)
        if failed_at is not None:
            found.setdefault(deploy.run_id, _Failure(failed_at, deploy.new_image))
        elif any(r.at > deploy.at and r.old_image == deploy.new_image for r in rollbacks):
            found.setdefault(deploy.run_id, _Failure(deploy.at, deploy.new_image))
    return list(found.values())


def _restored_at(commits: list[_Commit], failure: _Failure) -> float | None:
    for commit in commits:
        if commit.at > failure.at and commit.new_image != failure.image:
            return commit.at
    return None

"""Is a committed image up and healthy in the cluster? Pure: the resources come in as the
Kubernetes API's JSON (apps/v1 Deployments and StatefulSets, v1 Pods, argoproj.io/v1alpha1
Applications), the verdict goes out as Pending, Healthy or Failed.

The workload is the Deployment or StatefulSet whose pod template runs the service's image
repository; its Application is the one whose `status.resources` lists it. A condition or a
pod status counts only once the workload runs the new image: before that it describes the
rollout being replaced.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]

# Container waiting reasons that do not go away by waiting. ErrImagePull is left out: the
# kubelet reports it on the first failed pull, ImagePullBackOff once it keeps failing.
FAILING_WAIT_REASONS = frozenset(
    {
        "CrashLoopBackOff",
        "ImagePullBackOff",
        "ErrImageNeverPull",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
    }
)
FAILED_SYNC_PHASES = frozenset({"Failed", "Error"})


@dataclass(frozen=True)
class Expected:
    """What the commit deploys: the image as written in the manifest, and the gitops commit."""

    service: str
    image: str  # repository:tag, or repository:tag@sha256:... when pinned
    digest: str  # "" when unknown
    gitops_commit: str

    @property
    def repository(self) -> str:
        return image_repository(self.image)


@dataclass(frozen=True)
class Snapshot:
    workloads: Sequence[Obj] = ()  # Deployments and StatefulSets, each with its `kind`
    pods: Sequence[Obj] = ()
    applications: Sequence[Obj] = ()


@dataclass(frozen=True)
class Pending:
    waiting_for: str
    workload: str = ""
    application: str = ""


@dataclass(frozen=True)
class Healthy:
    workload: str
    application: str = ""
    ready_replicas: int = 0


@dataclass(frozen=True)
class Failed:
    condition: str  # CrashLoopBackOff, ProgressDeadlineExceeded, Degraded, ...
    reason: str
    workload: str = ""
    application: str = ""


Verdict = Pending | Healthy | Failed


def _never(_revision: str) -> bool:
    return False


def assess(
    expected: Expected,
    snapshot: Snapshot,
    argocd: bool = True,
    contains: Callable[[str], bool] = _never,
) -> Verdict:
    """The verdict on `expected` given what the cluster shows now. `contains(revision)`:
    whether a gitops revision other than the commit is a descendant of it (git knows)."""
    workload = find_workload(snapshot.workloads, expected.repository, expected.service)
    if workload is None:
        return Pending(f"a Deployment or StatefulSet running {expected.repository}")
    name = describe(workload)
    application = find_application(snapshot.applications, workload) if argocd else None
    app_name = describe(application) if application else ""
    if argocd and application is None:
        return Pending(f"an Argo CD Application that manages {name}", name)
    verdict = _assess(expected, workload, snapshot.pods, application, contains)
    match verdict:
        case Pending():
            return Pending(verdict.waiting_for, name, app_name)
        case Failed():
            return Failed(verdict.condition, verdict.reason, name, app_name)
    return Healthy(name, app_name, _int(workload, "status", "readyReplicas"))


def _assess(
    expected: Expected,
    workload: Obj,
    pods: Sequence[Obj],
    application: Obj | None,
    contains: Callable[[str], bool],
) -> Verdict:
    name = describe(workload)
    live = template_images(workload)
    if not any(same_image(image, expected) for image in live):
        if application is not None and (failed := _sync_failure(application, expected)):
            return failed
        shown = ", ".join(live) or "no image"
        return Pending(f"{name} to run {expected.image} (it runs {shown})")
    if _int(workload, "status", "observedGeneration") < _int(workload, "metadata", "generation"):
        return Pending(f"the controller to observe {name}'s new generation")
    if failed := _condition_failure(workload):
        return failed
    if failed := _pod_failure(workload, pods, expected):
        return failed
    if progress := rollout_progress(workload):
        if application is not None and _revision(application) == expected.gitops_commit:
            # Synced at the commit and Degraded: no need to wait for the rollout to give up.
            verdict = _application_verdict(application, expected, contains)
            if isinstance(verdict, Failed):
                return verdict
        return Pending(f"{name}: {progress}")
    if application is not None:
        return _application_verdict(application, expected, contains)
    return Healthy(name)


# --- the workload ---------------------------------------------------------------------------


def rollout_progress(workload: Obj) -> str | None:
    """What the rollout still waits for, as `kubectl rollout status` judges it; None: done."""
    spec, status = workload.get("spec", {}), workload.get("status", {})
    wanted = int(spec.get("replicas", 1))
    updated = int(status.get("updatedReplicas", 0))
    ready = int(status.get("readyReplicas", 0))
    if workload.get("kind") == "StatefulSet":
        strategy = spec.get("updateStrategy", {})
        partition = int(strategy.get("rollingUpdate", {}).get("partition", 0))
        if ready < wanted:
            return f"{ready} of {wanted} replicas ready"
        if strategy.get("type", "RollingUpdate") != "RollingUpdate":
            return None
        if updated < wanted - partition:
            return f"{updated} of {wanted - partition} replicas updated"
        if partition == 0 and status.get("updateRevision") != status.get("currentRevision"):
            return "the update revision to become current"
        return None
    available = int(status.get("availableReplicas", 0))
    total = int(status.get("replicas", 0))
    if updated < wanted:
        return f"{updated} of {wanted} replicas updated"
    if total > updated:
        return f"{total - updated} old replicas to terminate"
    if available < updated:
        return f"{available} of {updated} updated replicas available"
    return None


def _condition_failure(workload: Obj) -> Failed | None:
    for condition in workload.get("status", {}).get("conditions", []):
        kind, status = condition.get("type"), condition.get("status")
        message = condition.get("message", "")
        if kind == "Progressing" and condition.get("reason") == "ProgressDeadlineExceeded":
            return Failed("ProgressDeadlineExceeded", f"{describe(workload)}: {message}".strip())
        if kind == "ReplicaFailure" and status == "True":
            why = condition.get("reason", "ReplicaFailure")
            return Failed(why, f"{describe(workload)}: {why}: {message}")
    return None


def _pod_failure(workload: Obj, pods: Sequence[Obj], expected: Expected) -> Failed | None:
    for pod in sorted(owned_pods(workload, pods), key=lambda p: p["metadata"]["name"]):
        status = pod.get("status", {})
        statuses = status.get("initContainerStatuses", []) + status.get("containerStatuses", [])
        for container in statuses:
            waiting = container.get("state", {}).get("waiting") or {}
            reason = waiting.get("reason", "")
            if reason not in FAILING_WAIT_REASONS:
                continue
            if not same_image(container.get("image", ""), expected) and not _runs_new_image(
                pod, expected
            ):
                continue
            where = f"container {container.get('name')} of pod {pod['metadata']['name']}"
            restarts = container.get("restartCount", 0)
            detail = f" after {restarts} restarts" if reason == "CrashLoopBackOff" else ""
            message = waiting.get("message", "")
            text = f"{reason}{detail}: {where}" + (f": {message}" if message else "")
            return Failed(reason, text)
    return None


def owned_pods(workload: Obj, pods: Iterable[Obj]) -> list[Obj]:
    """The pods in the workload's namespace that its selector's matchLabels select."""
    namespace = workload["metadata"].get("namespace")
    wanted = workload.get("spec", {}).get("selector", {}).get("matchLabels", {})
    if not wanted:
        return []
    return [
        pod
        for pod in pods
        if pod["metadata"].get("namespace") == namespace
        and wanted.items() <= pod["metadata"].get("labels", {}).items()
    ]


def _runs_new_image(pod: Obj, expected: Expected) -> bool:
    containers = pod.get("spec", {}).get("containers", [])
    return any(same_image(c.get("image", ""), expected) for c in containers)


# --- Argo CD ---------------------------------------------------------------------------------


def find_application(applications: Iterable[Obj], workload: Obj) -> Obj | None:
    """The Application whose status lists the workload among its resources."""
    kind, meta = workload.get("kind"), workload["metadata"]
    for application in sorted(applications, key=lambda a: a["metadata"]["name"]):
        for resource in application.get("status", {}).get("resources", []):
            if (
                resource.get("kind") == kind
                and resource.get("name") == meta["name"]
                and resource.get("namespace") == meta.get("namespace")
            ):
                return application
    return None


def _application_verdict(
    application: Obj, expected: Expected, contains: Callable[[str], bool]
) -> Verdict:
    status = application.get("status", {})
    name = describe(application)
    sync = status.get("sync", {}).get("status", "Unknown")
    if sync != "Synced":
        return Pending(f"Argo CD to report {name} Synced (it is {sync})")
    revision = _revision(application) or ""
    if revision != expected.gitops_commit and not (revision and contains(revision)):
        return Pending(
            f"Argo CD to sync {name} at a revision containing {expected.gitops_commit[:7]}"
            f" (it is at {revision[:7] or 'no revision'})"
        )
    health = status.get("health", {})
    state = health.get("status", "Unknown")
    if state == "Degraded":
        message = health.get("message") or _degraded_resources(status)
        text = f"Argo CD reports {name} Degraded"
        return Failed("Degraded", f"{text}: {message}" if message else text)
    if state != "Healthy":
        return Pending(f"Argo CD to report {name} Healthy (it is {state})")
    return Healthy(name)


def _revision(application: Obj) -> str | None:
    revision: str | None = application.get("status", {}).get("sync", {}).get("revision")
    return revision


def _sync_failure(application: Obj, expected: Expected) -> Failed | None:
    """Argo CD tried to sync the commit and failed (e.g. the manifest does not apply)."""
    operation = application.get("status", {}).get("operationState", {})
    revision = operation.get("syncResult", {}).get("revision") or operation.get(
        "operation", {}
    ).get("sync", {}).get("revision")
    if operation.get("phase") in FAILED_SYNC_PHASES and revision == expected.gitops_commit:
        message = operation.get("message", "")
        return Failed("SyncFailed", f"Argo CD could not sync {describe(application)}: {message}")
    return None


def _degraded_resources(status: Obj) -> str:
    degraded = [
        f"{r.get('kind')} {r.get('name')}: {r.get('health', {}).get('message', 'Degraded')}"
        for r in status.get("resources", [])
        if r.get("health", {}).get("status") == "Degraded"
    ]
    return "; ".join(degraded)


def application_state(application: Obj | None) -> dict[str, Any]:
    status = (application or {}).get("status", {})
    return {
        "application": describe(application) if application else None,
        "sync": status.get("sync", {}).get("status"),
        "revision": status.get("sync", {}).get("revision"),
        "health": status.get("health", {}).get("status"),
    }


# --- images and names --------------------------------------------------------------------------


def image_repository(reference: str) -> str:
    """`registry:5000/team/app:tag@sha256:...` → `registry:5000/team/app`."""
    name = reference.partition("@")[0]
    slash, colon = name.rfind("/"), name.rfind(":")
    return name[:colon] if colon > slash else name


def same_image(live: str, expected: Expected) -> bool:
    """The live reference is the committed one, or the same repository at the same digest."""
    if live == expected.image:
        return True
    digest = live.partition("@")[2]
    return bool(
        digest and digest == expected.digest and image_repository(live) == expected.repository
    )


def template_images(workload: Obj) -> list[str]:
    pod = workload.get("spec", {}).get("template", {}).get("spec", {})
    return [c.get("image", "") for c in pod.get("containers", [])]


def find_workload(workloads: Iterable[Obj], repository: str, service: str) -> Obj | None:
    """The workload whose pod template runs `repository`; the one named after the service
    when several do."""
    candidates = sorted(
        (w for w in workloads if repository in map(image_repository, template_images(w))),
        key=lambda w: (w["metadata"]["name"] != service, describe(w)),
    )
    return candidates[0] if candidates else None


def describe(obj: Obj) -> str:
    meta = obj["metadata"]
    where = f"{meta['namespace']}/{meta['name']}" if meta.get("namespace") else meta["name"]
    kind = obj.get("kind")
    return f"{kind} {where}" if kind and kind != "Application" else where


def _int(obj: Obj, section: str, key: str) -> int:
    return int(obj.get(section, {}).get(key, 0) or 0)

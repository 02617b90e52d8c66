"""Kubernetes and Argo CD objects as their APIs return them (apps/v1 Deployment and
StatefulSet, v1 Pod, argoproj.io/v1alpha1 Application), at the stages of a rollout."""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]
NAMESPACE = "shop"
ARGOCD = "argocd"
CREATED = "2026-11-28T19:00:00Z"


def deployment(
    name: str,
    image: str,
    *,
    replicas: int = 2,
    generation: int = 2,
    observed: int | None = None,
    updated: int | None = None,
    ready: int | None = None,
    available: int | None = None,
    total: int | None = None,
    conditions: list[Obj] | None = None,
    namespace: str = NAMESPACE,
) -> Obj:
    """A Deployment; by default fully rolled out at `image`."""
    updated = replicas if updated is None else updated
    ready = updated if ready is None else ready
    available = ready if available is None else available
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": f"uid-{name}",
            "generation": generation,
            "creationTimestamp": CREATED,
            "labels": {"app.kubernetes.io/name": name},
            "annotations": {"deployment.kubernetes.io/revision": str(generation)},
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
            },
            "progressDeadlineSeconds": 600,
            "revisionHistoryLimit": 10,
            "template": {
                "metadata": {"labels": {"app.kubernetes.io/name": name}},
                "spec": {
                    "containers": [
                        {
                            "name": name,
                            "image": image,
                            "ports": [{"containerPort": 8000, "protocol": "TCP"}],
                            "imagePullPolicy": "IfNotPresent",
                        }
                    ],
                    "restartPolicy": "Always",
                },
            },
        },
        "status": {
            "observedGeneration": generation if observed is None else observed,
            "replicas": replicas if total is None else total,
            "updatedReplicas": updated,
            "readyReplicas": ready,
            "availableReplicas": available,
            "conditions": conditions
            if conditions is not None
            else [
                condition("Available", "True", "MinimumReplicasAvailable"),
                condition("Progressing", "True", "NewReplicaSetAvailable"),
            ],
        },
    }


def condition(kind: str, status: str, reason: str, message: str = "") -> Obj:
    return {
        "type": kind,
        "status": status,
        "reason": reason,
        "message": message or f"{kind} is {status}: {reason}",
        "lastUpdateTime": CREATED,
        "lastTransitionTime": CREATED,
    }


def statefulset(name: str, image: str, *, replicas: int = 1, ready: int | None = None) -> Obj:
    ready = replicas if ready is None else ready
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name, "namespace": NAMESPACE, "generation": 3},
        "spec": {
            "replicas": replicas,
            "serviceName": name,
            "selector": {"matchLabels": {"app": name}},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": name, "image": image}]},
            },
        },
        "status": {
            "observedGeneration": 3,
            "replicas": replicas,
            "readyReplicas": ready,
            "updatedReplicas": replicas,
            "currentReplicas": replicas,
            "availableReplicas": ready,
            "currentRevision": f"{name}-7d9f8c",
            "updateRevision": f"{name}-7d9f8c",
        },
    }


def pod(
    name: str,
    app: str,
    image: str,
    *,
    waiting: str | None = None,
    message: str = "",
    restarts: int = 0,
) -> Obj:
    """A pod of the Deployment `app`; `waiting`: its container's waiting reason."""
    state: Obj = (
        {"waiting": {"reason": waiting, "message": message}}
        if waiting
        else {"running": {"startedAt": CREATED}}
    )
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
            "labels": {"app.kubernetes.io/name": app, "pod-template-hash": "5f7b9c"},
            "ownerReferences": [
                {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": f"{app}-5f7b9c"}
            ],
        },
        "spec": {"containers": [{"name": app, "image": image}]},
        "status": {
            "phase": "Pending" if waiting else "Running",
            "containerStatuses": [
                {
                    "name": app,
                    "image": image,
                    "imageID": "",
                    "ready": waiting is None,
                    "started": waiting is None,
                    "restartCount": restarts,
                    "state": state,
                }
            ],
        },
    }


def application(
    name: str,
    workloads: list[str],
    *,
    sync: str = "Synced",
    revision: str = "",
    health: str = "Healthy",
    message: str = "",
    operation: Obj | None = None,
) -> Obj:
    """An Argo CD Application managing the Deployments `workloads` in the shop namespace."""
    status: Obj = {
        "sync": {
            "status": sync,
            "revision": revision,
            "comparedTo": {
                "source": {
                    "repoURL": "https://git.example.com/acme/shop.git",
                    "path": "k8s",
                    "targetRevision": "main",
                },
                "destination": {"server": "https://kubernetes.default.svc", "namespace": NAMESPACE},
            },
        },
        "health": {"status": health, **({"message": message} if message else {})},
        "resources": [
            {
                "group": "apps",
                "version": "v1",
                "kind": "Deployment",
                "namespace": NAMESPACE,
                "name": workload,
                "status": sync,
                "health": {"status": health},
            }
            for workload in workloads
        ],
        "reconciledAt": CREATED,
        "sourceType": "Directory",
    }
    if operation is not None:
        status["operationState"] = operation
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name, "namespace": ARGOCD},
        "spec": {
            "project": "default",
            "source": {
                "repoURL": "https://git.example.com/acme/shop.git",
                "path": "k8s",
                "targetRevision": "main",
            },
            "destination": {"server": "https://kubernetes.default.svc", "namespace": NAMESPACE},
            "syncPolicy": {"automated": {"prune": True, "selfHeal": True}},
        },
        "status": status,
    }

"""The clusters as one verifier process sees them: per cluster, one informer per kind and
namespace, shared by every verification in the process (threads wait on the view, not on
their own watches), and a publisher that keeps the live state the services table shows.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from services.common.cluster_settings import ClusterSettings
from services.common.logging import get_logger
from services.verifier.kube import Informer, Resource, api_client
from services.verifier.rollout import Snapshot

LIVE_INTERVAL = 1.0  # the live state is written at most this often per cluster


class ClusterView:
    """Deployments, StatefulSets and Pods of the cluster's namespaces and Argo CD's
    Applications, kept current; `wait_for_change` blocks until any of them changes."""

    def __init__(self, cluster: ClusterSettings) -> None:
        self.cluster = cluster
        self._api = api_client(cluster)
        self._changed = threading.Condition()
        self._generation = 0
        timeout = cluster.request_timeout_seconds
        resources = [
            make(self._api, namespace)
            for namespace in cluster.namespaces
            for make in (Resource.deployments, Resource.statefulsets, Resource.pods)
        ]
        if cluster.argocd_namespace:
            resources.append(Resource.applications(self._api, cluster.argocd_namespace))
        self.informers = [Informer(r, self._notify, timeout) for r in resources]

    def start(self) -> None:
        for informer in self.informers:
            informer.start()

    def close(self) -> None:
        for informer in self.informers:
            informer.stop()
        with self._changed:
            self._generation += 1
            self._changed.notify_all()
        self._api.close()

    @property
    def generation(self) -> int:
        return self._generation

    def _notify(self) -> None:
        with self._changed:
            self._generation += 1
            self._changed.notify_all()

    def wait_for_change(self, seen: int, timeout: float) -> int:
        """Block until the generation moves past `seen` or `timeout` passes; the generation."""
        with self._changed:
            self._changed.wait_for(lambda: self._generation != seen, timeout=max(0.0, timeout))
            return self._generation

    @property
    def synced(self) -> bool:
        return all(informer.synced.is_set() for informer in self.informers)

    def problems(self) -> list[str]:
        return [informer.problem for informer in self.informers if informer.problem]

    def snapshot(self) -> Snapshot:
        workloads: list[dict[str, Any]] = []
        pods: list[dict[str, Any]] = []
        applications: list[dict[str, Any]] = []
        for informer in self.informers:
            kind = informer.resource.kind
            target = {"Pod": pods, "Application": applications}.get(kind, workloads)
            target.extend(informer.objects())
        return Snapshot(workloads, pods, applications)


class Watches:
    """Every configured cluster's view, started once per process; `on_snapshot` (the live
    state writer) is called with each cluster's snapshot after it changes."""

    def __init__(
        self,
        clusters: Sequence[ClusterSettings],
        on_snapshot: Callable[[str, Snapshot], None] | None = None,
    ) -> None:
        self._views = {cluster.name: ClusterView(cluster) for cluster in clusters}
        self._on_snapshot = on_snapshot
        self._stopped = threading.Event()
        self._publishers: list[threading.Thread] = []

    def start(self) -> None:
        for name, view in self._views.items():
            view.start()
            if self._on_snapshot is not None:
                thread = threading.Thread(
                    target=self._publish,
                    args=(view, self._on_snapshot),
                    name=f"live-{name}",
                    daemon=True,
                )
                thread.start()
                self._publishers.append(thread)

    def view(self, name: str) -> ClusterView | None:
        return self._views.get(name)

    def close(self) -> None:
        self._stopped.set()
        for view in self._views.values():
            view.close()
        for thread in self._publishers:
            thread.join(timeout=5)

    def _publish(self, view: ClusterView, write: Callable[[str, Snapshot], None]) -> None:
        log = get_logger(cluster=view.cluster.name)
        seen = -1
        while not self._stopped.is_set():
            seen = view.wait_for_change(seen, timeout=30)
            if self._stopped.is_set():
                return
            if not view.synced:
                continue
            try:
                write(view.cluster.name, view.snapshot())
            except Exception as exc:  # noqa: BLE001 - the live state is best effort; verifying goes on
                log.warning("live state not written", error=f"{type(exc).__name__}: {exc}")
            self._stopped.wait(LIVE_INTERVAL)  # the events of a burst are written once

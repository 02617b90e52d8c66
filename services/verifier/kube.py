"""The Kubernetes adapter: an API client per cluster, and informers that keep a namespace's
objects of one kind current with list + watch. The only module that imports `kubernetes`.

An informer lists once, then watches from the list's resourceVersion, remembering the
version of every event (bookmarks included). A watch that ends (the server's timeout, a
dropped connection) resumes from the last version; one the server answers with
`410 Gone` (that version was compacted away) lists again and watches from the fresh list.
Objects are kept as the API's JSON, with their `kind` (list items do not carry it).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import urllib3
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException
from kubernetes.config.config_exception import ConfigException

from services.common.cluster_settings import ClusterSettings
from services.common.errors import ConfigError
from services.common.logging import get_logger
from services.common.stage import backoff

WATCH_SECONDS = 240  # the server ends each watch after this long; the informer resumes it
HTTP_GONE = 410
Obj = dict[str, Any]


def api_client(cluster: ClusterSettings) -> client.ApiClient:
    """A client for the cluster, from its kubeconfig file or the pod's service account."""
    configuration = client.Configuration()
    try:
        if cluster.in_cluster:
            config.load_incluster_config(client_configuration=configuration)
        else:
            config.load_kube_config(
                config_file=str(cluster.kubeconfig),
                context=cluster.context,
                client_configuration=configuration,
                persist_config=False,
            )
    except (ConfigException, OSError, TypeError, ValueError) as exc:
        raise ConfigError(
            f"clusters.{cluster.name}: cannot load its configuration: {exc}"
        ) from None
    return client.ApiClient(configuration)


@contextmanager
def short_lived_client(cluster: ClusterSettings) -> Iterator[client.ApiClient]:
    """A client for a few requests, its connections closed after (ApiClient.close alone
    leaves the connection pool open)."""
    api = api_client(cluster)
    try:
        yield api
    finally:
        api.close()
        api.rest_client.pool_manager.clear()


def annotate_application(
    api: client.ApiClient, namespace: str, name: str, annotations: dict[str, str], timeout: float
) -> None:
    """Set annotations on an Argo CD Application (a JSON merge patch: other keys stay).
    Raises ApiException as the client does: the caller decides what a refusal means."""
    client.CustomObjectsApi(api).patch_namespaced_custom_object(
        "argoproj.io",
        "v1alpha1",
        namespace,
        "applications",
        name,
        {"metadata": {"annotations": annotations}},
        _request_timeout=timeout,
    )


class Resource:
    """One kind of object in one namespace, as the list function of the client reaches it."""

    def __init__(self, kind: str, namespace: str, lister: Callable[..., Any], *args: str) -> None:
        self.kind, self.namespace = kind, namespace
        self._lister, self._args = lister, args

    @classmethod
    def deployments(cls, api: client.ApiClient, namespace: str) -> Resource:
        return cls(
            "Deployment", namespace, client.AppsV1Api(api).list_namespaced_deployment, namespace
        )

    @classmethod
    def statefulsets(cls, api: client.ApiClient, namespace: str) -> Resource:
        apps = client.AppsV1Api(api)
        return cls("StatefulSet", namespace, apps.list_namespaced_stateful_set, namespace)

    @classmethod
    def pods(cls, api: client.ApiClient, namespace: str) -> Resource:
        return cls("Pod", namespace, client.CoreV1Api(api).list_namespaced_pod, namespace)

    @classmethod
    def applications(cls, api: client.ApiClient, namespace: str) -> Resource:
        custom = client.CustomObjectsApi(api).list_namespaced_custom_object
        return cls(
            "Application", namespace, custom, "argoproj.io", "v1alpha1", namespace, "applications"
        )

    def list(self, timeout: float) -> Obj:
        response = self._lister(*self._args, _preload_content=False, _request_timeout=timeout)
        try:
            answer: Obj = json.loads(response.data)
        finally:
            response.release_conn()
        return answer

    def watch(self, stream: watch.Watch, resource_version: str, timeout: float) -> Any:
        return stream.stream(
            self._lister,
            *self._args,
            resource_version=resource_version,
            allow_watch_bookmarks=True,
            timeout_seconds=WATCH_SECONDS,
            _request_timeout=(timeout, WATCH_SECONDS + timeout),
        )


class Informer:
    """The current objects of one Resource, kept by a background thread; `on_change` is
    called after every list and every event."""

    def __init__(self, resource: Resource, on_change: Callable[[], None], timeout: float) -> None:
        self.resource = resource
        self._on_change, self._timeout = on_change, timeout
        self._objects: dict[str, Obj] = {}
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._stream: watch.Watch | None = None
        self._thread: threading.Thread | None = None
        self.resource_version: str | None = None
        self.synced = threading.Event()  # listed at least once
        self.problem = ""  # the last error, for people; "" while all is well
        self.lists = 0  # how often it listed (a 410 makes it list again)

    def start(self) -> None:
        name = f"informer-{self.resource.kind}-{self.resource.namespace}"
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._stream is not None:
            self._stream.stop()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def objects(self) -> list[Obj]:
        with self._lock:
            return list(self._objects.values())

    def _run(self) -> None:
        log = get_logger(kind=self.resource.kind, namespace=self.resource.namespace)
        failures = 0
        while not self._stopped.is_set():
            try:
                if self.resource_version is None:
                    self._list()
                self._watch()
                failures = 0
            except ApiException as exc:
                if exc.status == HTTP_GONE:
                    log.info("watch expired (410 Gone), listing again")
                    self.resource_version = None
                    continue
                failures += 1
                self.problem = f"{self._what}: HTTP {exc.status} {exc.reason}"
            except (urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
                failures += 1
                self.problem = f"{self._what}: {type(exc).__name__}: {exc}"
            if failures and not self._stopped.is_set():
                log.warning("cluster watch failed, reconnecting", problem=self.problem)
                self._stopped.wait(backoff(failures, base=0.5, cap=30))

    @property
    def _what(self) -> str:
        return f"{self.resource.kind}s in {self.resource.namespace}"

    def _list(self) -> None:
        answer = self.resource.list(self._timeout)
        objects = {self._key(item): self._with_kind(item) for item in answer.get("items", [])}
        with self._lock:
            self._objects = objects
        self.resource_version = answer.get("metadata", {}).get("resourceVersion")
        self.lists += 1
        self.problem = ""
        self.synced.set()
        self._on_change()

    def _watch(self) -> None:
        self._stream = watch.Watch(return_type="object")  # JSON as sent: no model classes
        try:
            for event in self.resource.watch(
                self._stream, self.resource_version or "", self._timeout
            ):
                if self._stopped.is_set():
                    return
                self._apply(event["type"], event["raw_object"])
        finally:
            self._stream = None

    def _apply(self, kind: str, obj: Obj) -> None:
        version = obj.get("metadata", {}).get("resourceVersion")
        if kind != "BOOKMARK":
            with self._lock:
                if kind == "DELETED":
                    self._objects.pop(self._key(obj), None)
                else:
                    self._objects[self._key(obj)] = self._with_kind(obj)
        if version:
            self.resource_version = version
        if kind != "BOOKMARK":
            self._on_change()

    def _with_kind(self, obj: Obj) -> Obj:
        obj.setdefault("kind", self.resource.kind)
        return obj

    @staticmethod
    def _key(obj: Obj) -> str:
        meta = obj.get("metadata", {})
        return f"{meta.get('namespace', '')}/{meta.get('name', '')}"

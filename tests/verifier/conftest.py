"""A stand-in API server per test (tests/verifier/fake_apiserver.py), the cluster settings
that point the real `kubernetes` client at it, the verifier's shared watches, and a
simulated Argo CD (tests/verifier/argo_controller.py) with the verifier's handler on it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from services.common.cluster_settings import ArgoCDRefresh, ClusterSettings
from services.common.events import Envelope
from services.common.runtime import Runtime
from services.common.settings import Settings
from services.verifier.task import make_handler
from services.verifier.watches import ClusterView, Watches
from tests.verifier.argo_controller import SimulatedArgoCD
from tests.verifier.commits import COMMIT, NEW, OLD
from tests.verifier.fake_apiserver import FakeApiServer
from tests.verifier.objects import ARGOCD, NAMESPACE, application, deployment, pod

NEVER = 3600.0  # an Argo CD poll interval no test waits for


@pytest.fixture
def apiserver() -> Iterator[FakeApiServer]:
    server = FakeApiServer().start()
    yield server
    server.stop()


@pytest.fixture
def cluster(apiserver: FakeApiServer, tmp_path: Path) -> ClusterSettings:
    return ClusterSettings(
        name="prod",
        kubeconfig=apiserver.kubeconfig(tmp_path / "kubeconfig"),
        namespaces=[NAMESPACE],
        argocd_namespace=ARGOCD,
        deadline_seconds=30,
        request_timeout_seconds=5,
    )


@pytest.fixture
def start_watches() -> Iterator[Callable[..., Watches]]:
    started: list[Watches] = []

    def start(*clusters: ClusterSettings, **kwargs: object) -> Watches:
        watches = Watches(list(clusters), **kwargs)  # type: ignore[arg-type]
        watches.start()
        started.append(watches)
        return watches

    yield start
    for watches in started:
        watches.close()


def synced(view: ClusterView | None, timeout: float = 10.0) -> ClusterView:
    """The view once every informer listed, or fail."""
    assert view is not None
    for informer in view.informers:
        assert informer.synced.wait(timeout), f"{informer.resource.kind} never listed"
    return view


def running_old_image(apiserver: FakeApiServer) -> None:
    """cart at OLD, rolled out, and Argo CD's Application synced at an earlier commit."""
    apiserver.put("deployments", deployment("cart", OLD, generation=1))
    apiserver.put("pods", pod("cart-old-1", "cart", OLD))
    apiserver.put("applications", application("shop", ["cart"], revision="e" * 40))


@pytest.fixture
def argocd(apiserver: FakeApiServer) -> Iterator[Callable[[float], SimulatedArgoCD]]:
    running_old_image(apiserver)
    started: list[SimulatedArgoCD] = []

    def start(poll_seconds: float) -> SimulatedArgoCD:
        controller = SimulatedArgoCD(apiserver, "shop", "cart", poll_seconds).start()
        controller.commit(COMMIT, NEW)  # the committer's push: git holds the new image
        started.append(controller)
        return controller

    yield start
    for controller in started:
        controller.stop()


@pytest.fixture
def verifier(
    cluster: ClusterSettings,
    tmp_path: Path,
    redis_url: str,
    redis_client: redis.Redis,
    start_watches: Callable[..., Watches],
) -> Callable[..., tuple[Runtime, Callable[[Envelope], Any]]]:
    def build(
        refresh: ArgoCDRefresh | None, git: SimulatedArgoCD
    ) -> tuple[Runtime, Callable[[Envelope], Any]]:
        refreshing = ClusterSettings(**{**cluster.model_dump(), "argocd_refresh": refresh})
        settings = Settings(redis_url=redis_url, workdir=tmp_path / "w", clusters=[refreshing])
        runtime = Runtime(settings)
        watches = start_watches(refreshing)
        synced(watches.view("prod"))
        runtime.runs.create("run-r", trigger="push", repository="acme/app", commit="a" * 40)
        runtime.runs.plan("run-r", ["cart"])
        return runtime, make_handler(runtime, watches, git)  # type: ignore[arg-type]

    return build

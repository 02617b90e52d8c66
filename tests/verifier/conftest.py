"""A stand-in API server per test (tests/verifier/fake_apiserver.py), the cluster settings
that point the real `kubernetes` client at it, and the verifier's shared watches."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from services.common.cluster_settings import ClusterSettings
from services.verifier.watches import ClusterView, Watches
from tests.verifier.fake_apiserver import FakeApiServer
from tests.verifier.objects import ARGOCD, NAMESPACE


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

"""Asking Argo CD to read a manifest commit at once (clusters[].argocd_refresh), through the
verifier's handler: the real `kubernetes` client against the stand-in API server of
tests/verifier/fake_apiserver.py (no Kubernetes API server can run here), a simulated Argo CD
controller on it (tests/verifier/argo_controller.py) that syncs when refreshed or at its
poll, a loopback HTTP server for Argo CD's webhook, and the run store on the real Redis."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import redis

from services.common.cluster_settings import ArgoCDRefresh, ClusterSettings
from services.common.events import DeploymentVerified, Envelope, ManifestCommitted, Source
from services.common.runtime import Runtime
from services.common.settings import Settings
from services.verifier.task import make_handler
from services.verifier.watches import Watches
from tests.verifier.argo_controller import SimulatedArgoCD
from tests.verifier.conftest import synced
from tests.verifier.fake_apiserver import MERGE_PATCH, FakeApiServer
from tests.verifier.objects import application, deployment, pod

REPO = "127.0.0.1:5000/bank/cart"
OLD, NEW = f"{REPO}:sha-aaaaaaa", f"{REPO}:sha-bbbbbbb"
COMMIT = "c" * 40
GITOPS_URL = "https://git.example.com/acme/shop.git"  # the Application's repoURL
SECRET = "argocd-webhook-secret"
APPLICATION_PATH = "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/shop"
REFRESH = "argocd.argoproj.io/refresh"
NEVER = 3600.0  # a poll interval no test waits for


def committed() -> ManifestCommitted:
    return ManifestCommitted(
        run_id="run-r",
        service="cart",
        source=Source(repository="acme/app", commit="a" * 40, ref="refs/heads/main"),
        manifest_path="k8s/cart.yaml",
        old_image=OLD,
        new_image=NEW,
        gitops_repository="acme/shop",
        gitops_commit=COMMIT,
        branch="main",
        cluster="prod",
    )


class ArgoWebhook:
    """Argo CD's /api/webhook on loopback: keeps each request and tells the controller."""

    def __init__(self, argocd: SimulatedArgoCD) -> None:
        self.received: list[tuple[str, dict[str, str], bytes]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                hook.received.append((self.path, dict(self.headers.items()), body))
                argocd.webhook()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._http.server_address[:2]
        return f"http://{host!s}:{port}/api/webhook"

    def close(self) -> None:
        self._http.shutdown()
        self._http.server_close()


@pytest.fixture
def argocd(apiserver: FakeApiServer) -> Iterator[Callable[[float], SimulatedArgoCD]]:
    apiserver.put("deployments", deployment("cart", OLD, generation=1))
    apiserver.put("pods", pod("cart-old-1", "cart", OLD))
    apiserver.put("applications", application("shop", ["cart"], revision="e" * 40))
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


def verified(runtime: Runtime, handle: Callable[[Envelope], Any]) -> DeploymentVerified:
    event = committed()
    runtime.runs.apply(event)
    (verdict,) = handle(event)
    assert isinstance(verdict, DeploymentVerified), verdict
    runtime.runs.apply(verdict)
    return verdict


def test_a_manifest_commit_annotates_the_application_named_in_settings_and_argo_syncs_at_once(
    apiserver: FakeApiServer,
    argocd: Callable[[float], SimulatedArgoCD],
    verifier: Callable[..., tuple[Runtime, Callable[[Envelope], Any]]],
) -> None:
    controller = argocd(NEVER)
    runtime, handle = verifier(ArgoCDRefresh(applications=["shop"]), controller)

    verdict = verified(runtime, handle)

    assert apiserver.patches == [
        (APPLICATION_PATH, MERGE_PATCH, {"metadata": {"annotations": {REFRESH: "normal"}}})
    ]
    assert [sync.cause for sync in controller.syncs] == ["refresh annotation"]
    assert verdict.argocd_refresh == "annotation argocd/shop"
    service = runtime.runs.get("run-r").services["cart"]  # type: ignore[union-attr]
    assert service.status == "succeeded"
    assert service.argocd_refresh == "annotation argocd/shop"
    assert service.push_to_healthy is not None and service.push_to_healthy < 30


def test_with_the_webhook_setting_argo_cds_webhook_receives_a_signed_push_of_the_branch(
    apiserver: FakeApiServer,
    argocd: Callable[[float], SimulatedArgoCD],
    verifier: Callable[..., tuple[Runtime, Callable[[Envelope], Any]]],
) -> None:
    controller = argocd(NEVER)
    hook = ArgoWebhook(controller)
    try:
        refresh = ArgoCDRefresh(
            webhook_url=hook.url, webhook_secret=SECRET, repository_url=GITOPS_URL
        )
        runtime, handle = verifier(refresh, controller)

        verdict = verified(runtime, handle)
    finally:
        hook.close()

    ((path, headers, body),) = hook.received
    payload = json.loads(body)
    assert path == "/api/webhook" and headers["X-GitHub-Event"] == "push"
    expected = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers["X-Hub-Signature-256"] == f"sha256={expected}"
    assert (payload["ref"], payload["after"]) == ("refs/heads/main", COMMIT)
    assert payload["repository"]["html_url"] == "https://git.example.com/acme/shop"
    assert payload["commits"][0]["modified"] == ["k8s/cart.yaml"]
    assert SECRET not in body.decode()
    assert apiserver.patches == []  # the webhook instead of the annotation
    assert [sync.cause for sync in controller.syncs] == ["webhook"]
    assert verdict.argocd_refresh == f"webhook {hook.url}"


def test_a_refused_refresh_still_verifies_at_argos_poll_and_the_run_records_the_refusal(
    apiserver: FakeApiServer,
    argocd: Callable[[float], SimulatedArgoCD],
    verifier: Callable[..., tuple[Runtime, Callable[[Envelope], Any]]],
) -> None:
    apiserver.refuse_patches = 403  # the verifier's Role without `patch` on applications
    controller = argocd(2.0)
    runtime, handle = verifier(ArgoCDRefresh(applications=["shop"]), controller)

    verdict = verified(runtime, handle)

    assert [sync.cause for sync in controller.syncs] == ["poll"]
    refusal = "failed: annotation argocd/shop: HTTP 403 Forbidden"
    assert verdict.argocd_refresh == refusal
    service = runtime.runs.get("run-r").services["cart"]  # type: ignore[union-attr]
    assert (service.status, service.argocd_refresh) == ("succeeded", refusal)


def test_without_the_setting_nothing_is_asked_of_argo_cd(
    apiserver: FakeApiServer,
    argocd: Callable[[float], SimulatedArgoCD],
    verifier: Callable[..., tuple[Runtime, Callable[[Envelope], Any]]],
) -> None:
    controller = argocd(1.0)
    runtime, handle = verifier(None, controller)

    verdict = verified(runtime, handle)

    assert apiserver.patches == []
    assert [sync.cause for sync in controller.syncs] == ["poll"]
    assert verdict.argocd_refresh == ""
    assert runtime.runs.get("run-r").services["cart"].argocd_refresh is None  # type: ignore[union-attr]

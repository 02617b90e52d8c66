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
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from services.common.cluster_settings import ArgoCDRefresh
from services.common.events import DeploymentVerified, Envelope
from services.common.runtime import Runtime
from tests.verifier.argo_controller import SimulatedArgoCD
from tests.verifier.commits import COMMIT, manifest_committed
from tests.verifier.conftest import NEVER
from tests.verifier.fake_apiserver import MERGE_PATCH, FakeApiServer

GITOPS_URL = "https://git.example.com/acme/shop.git"  # the Application's repoURL
SECRET = "argocd-webhook-secret"
APPLICATION_PATH = "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/shop"
REFRESH = "argocd.argoproj.io/refresh"


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


def verified(runtime: Runtime, handle: Callable[[Envelope], Any]) -> DeploymentVerified:
    event = manifest_committed("run-r", repository="acme/app")
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

"""Ask Argo CD to read git now: after a manifest commit, the Applications that follow the
cluster's gitops branch would otherwise find it at their next poll (3 minutes by default).

Two ways, from the cluster's `argocd_refresh` settings:

- the annotation `argocd.argoproj.io/refresh: normal` on each named Application, through the
  verifier's own Kubernetes client (needs `patch` on applications.argoproj.io); Argo CD's
  controller refreshes the Application and removes the annotation;
- Argo CD's git webhook (`POST /api/webhook`): a GitHub-style push event naming the gitops
  repository and branch, signed with the webhook secret when one is set.

Asking twice (a redelivered ManifestCommitted) only refreshes twice. A refusal or an
unreachable Argo CD never fails the verification: the outcome is logged and returned, for
the verdict to carry; the rollout is then found at the next poll.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

import httpx
from kubernetes.client.rest import ApiException

from services.common.cluster_settings import ArgoCDRefresh, ClusterSettings
from services.common.errors import ConfigError
from services.common.events import ManifestCommitted
from services.common.logging import get_logger
from services.verifier.kube import annotate_application, short_lived_client

REFRESH_ANNOTATION = "argocd.argoproj.io/refresh"
NO_COMMIT = "0" * 40  # GitHub's `before` when it does not know one


@dataclass(frozen=True)
class Refresh:
    """What was asked of Argo CD, and whether it was accepted."""

    how: str  # "annotation" or "webhook"
    target: str  # "argocd/shop, argocd/shop-canary", or the webhook's URL
    problem: str = ""  # why it was not accepted; "" when it was

    def __str__(self) -> str:
        said = f"{self.how} {self.target}"
        return f"failed: {said}: {self.problem}" if self.problem else said


def push_payload(committed: ManifestCommitted, repository_url: str) -> dict[str, Any]:
    """The GitHub push event Argo CD's webhook reads: `repository.html_url` against each
    Application's repoURL, `ref` against its targetRevision, the changed files against its
    manifest-generate-paths."""
    branch = committed.branch
    return {
        "ref": f"refs/heads/{branch}",
        "before": NO_COMMIT,
        "after": committed.gitops_commit,
        "repository": {
            "name": repository_url.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git"),
            "full_name": committed.gitops_repository,
            "html_url": repository_url.removesuffix(".git"),
            "clone_url": repository_url,
            "default_branch": branch,
        },
        "commits": [
            {
                "id": committed.gitops_commit,
                "message": f"{committed.service}: {committed.new_image}",
                "added": [],
                "removed": [],
                "modified": [committed.manifest_path],
            }
        ],
        "head_commit": {"id": committed.gitops_commit},
        "sender": {"login": "shipline"},
    }


def signature_headers(body: bytes, secret: str) -> dict[str, str]:
    """GitHub's signatures of the body: both, since Argo CD releases differ in which they read."""
    sha1 = hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()
    sha256 = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature": f"sha1={sha1}", "X-Hub-Signature-256": f"sha256={sha256}"}


class ArgoCDRefresher:
    """Refreshes one cluster's Applications; shared by the verifier's threads."""

    def __init__(self, cluster: ClusterSettings, settings: ArgoCDRefresh) -> None:
        self._cluster, self._settings = cluster, settings

    @classmethod
    def of(cls, cluster: ClusterSettings) -> ArgoCDRefresher | None:
        """The cluster's refresher; None when it asks for none."""
        return cls(cluster, cluster.argocd_refresh) if cluster.argocd_refresh else None

    def refresh(self, committed: ManifestCommitted) -> Refresh:
        log = get_logger(cluster=self._cluster.name, gitops_commit=committed.gitops_commit)
        if self._settings.webhook_url is not None:
            outcome = self._webhook(committed)
        else:
            outcome = self._annotate()
        if outcome.problem:
            log.warning("argo cd refresh failed: its poll finds the commit", refresh=str(outcome))
        else:
            log.info("argo cd asked to refresh", refresh=str(outcome))
        return outcome

    def _annotate(self) -> Refresh:
        namespace = self._cluster.argocd_namespace or ""
        names = self._settings.applications
        target = ", ".join(f"{namespace}/{name}" for name in names)
        timeout = self._cluster.request_timeout_seconds
        problems = []
        try:
            with short_lived_client(self._cluster) as api:
                for name in names:
                    try:
                        annotations = {REFRESH_ANNOTATION: "normal"}
                        annotate_application(api, namespace, name, annotations, timeout)
                    except ApiException as exc:
                        status = f"HTTP {exc.status} {exc.reason}"
                        problems.append(status if len(names) == 1 else f"{name}: {status}")
        except ConfigError as exc:
            problems.append(str(exc))
        except (OSError, ValueError) as exc:  # urllib3's errors are OSErrors or ValueErrors
            problems.append(f"{type(exc).__name__}: {exc}")
        return Refresh("annotation", target, "; ".join(problems))

    def _webhook(self, committed: ManifestCommitted) -> Refresh:
        url = str(self._settings.webhook_url)
        repository_url = self._settings.repository_url or ""
        body = json.dumps(push_payload(committed, repository_url)).encode()
        headers = {
            "Content-Type": "application/json",
            "X-GitHub-Event": "push",
            "X-GitHub-Delivery": str(committed.event_id),
            "User-Agent": "Shipline",
        }
        try:
            if self._settings.webhook_secret is not None:
                secret = self._settings.webhook_secret.get_secret_value()
                headers |= signature_headers(body, secret)
        except ConfigError as exc:  # its file went missing: say so, the poll still works
            return Refresh("webhook", url, str(exc))
        try:
            with httpx.Client(timeout=self._cluster.request_timeout_seconds) as http:
                response = http.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return Refresh("webhook", url, f"{type(exc).__name__}: {exc}")
        if response.is_success:
            return Refresh("webhook", url)
        return Refresh("webhook", url, f"HTTP {response.status_code} {response.reason_phrase}")

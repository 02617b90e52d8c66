"""Where the verifier checks rollouts: one entry per environment (server settings `clusters`).

An environment is the gitops repository and branch that Argo CD syncs a cluster from; a
ManifestCommitted to it is verified in that cluster. Without a matching entry, runs end at
the commit, as they did before verification existed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, SecretStr, model_validator

from services.common.secret_files import SecretFiles

KubernetesName = Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")]


class ArgoCDRefresh(SecretFiles):
    """Ask Argo CD to read git at once after a manifest commit, instead of at its next poll
    (every 3 minutes by default). services/verifier/argocd_refresh.py does the asking."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    secret_keys = ("webhook_secret",)  # or webhook_secret_file: read when a commit is refreshed

    # The Applications (in argocd_namespace) that follow this cluster's gitops repository and
    # branch: each gets the annotation argocd.argoproj.io/refresh: normal.
    applications: list[KubernetesName] = []
    # Or Argo CD's own git webhook (https://argocd.example.com/api/webhook): a GitHub-style
    # push naming repository_url (as the Applications' repoURL has it) and the branch.
    webhook_url: AnyHttpUrl | None = None
    webhook_secret: SecretStr | None = None  # argocd-secret's webhook.github.secret, if set
    repository_url: str | None = None

    @model_validator(mode="after")
    def _one_way(self) -> ArgoCDRefresh:
        if not self.applications and self.webhook_url is None:
            raise ValueError("name the applications to refresh, or give webhook_url")
        if self.webhook_url is not None and not self.repository_url:
            raise ValueError("webhook_url needs repository_url: the repoURL Argo CD knows")
        return self


class ClusterSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: KubernetesName  # names the cluster in events, logs and the services table
    # The environment: which commits this cluster runs. None matches any.
    gitops_repository: str | None = None
    branch: str | None = None
    # How to reach the API server: a kubeconfig file (optionally one of its contexts), or
    # the pod's service account (in_cluster).
    kubeconfig: Path | None = None
    context: str | None = None
    in_cluster: bool = False
    namespaces: list[KubernetesName] = Field(min_length=1)  # where the services' workloads run
    argocd_namespace: KubernetesName | None = "argocd"  # None: no Argo CD to check (e.g. Flux)
    deadline_seconds: int = Field(default=600, gt=0)  # commit to healthy, else DeploymentFailed
    request_timeout_seconds: float = Field(default=10.0, gt=0)
    argocd_refresh: ArgoCDRefresh | None = None  # None: Argo CD finds the commit at its poll

    @model_validator(mode="after")
    def _one_way_in(self) -> ClusterSettings:
        if self.in_cluster == (self.kubeconfig is not None):
            raise ValueError("give kubeconfig (a file) or in_cluster: true, exactly one")
        if self.in_cluster and self.context is not None:
            raise ValueError("context only applies to a kubeconfig")
        refresh = self.argocd_refresh
        annotating = refresh is not None and refresh.webhook_url is None
        if annotating and self.argocd_namespace is None:
            raise ValueError("argocd_refresh.applications needs argocd_namespace")
        return self

    def serves(self, gitops_repository: str, branch: str) -> bool:
        return self.gitops_repository in (None, gitops_repository) and self.branch in (None, branch)

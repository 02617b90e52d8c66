"""Where the verifier checks rollouts: one entry per environment (server settings `clusters`).

An environment is the gitops repository and branch that Argo CD syncs a cluster from; a
ManifestCommitted to it is verified in that cluster. Without a matching entry, runs end at
the commit, as they did before verification existed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

KubernetesName = Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")]


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

    @model_validator(mode="after")
    def _one_way_in(self) -> ClusterSettings:
        if self.in_cluster == (self.kubeconfig is not None):
            raise ValueError("give kubeconfig (a file) or in_cluster: true, exactly one")
        if self.in_cluster and self.context is not None:
            raise ValueError("context only applies to a kubeconfig")
        return self

    def serves(self, gitops_repository: str, branch: str) -> bool:
        return self.gitops_repository in (None, gitops_repository) and self.branch in (None, branch)

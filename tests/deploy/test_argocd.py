"""The Argo CD Applications in deploy/kubernetes/argocd: Shipline deploying itself from the
prod overlay, and the example application syncing the manifests Shipline commits."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
ARGOCD = REPO / "deploy" / "kubernetes" / "argocd"

Obj = dict[str, Any]


@pytest.fixture(scope="module")
def applications(kustomize: Callable[[Path], list[Obj]]) -> dict[str, Obj]:
    return {o["metadata"]["name"]: o for o in kustomize(ARGOCD) if o["kind"] == "Application"}


def test_argocd_deploys_shipline_from_the_prod_overlay(applications: dict[str, Obj]) -> None:
    app = applications["shipline"]
    spec = app["spec"]
    assert app["apiVersion"] == "argoproj.io/v1alpha1"
    assert (REPO / spec["source"]["path"] / "kustomization.yaml").is_file()
    assert spec["source"]["path"] == "deploy/kubernetes/overlays/prod"
    overlay = yaml.safe_load((REPO / spec["source"]["path"] / "kustomization.yaml").read_text())
    assert spec["destination"]["namespace"] == overlay["namespace"]
    assert spec["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}
    ignored = [
        pointer
        for rule in spec["ignoreDifferences"]
        if rule["kind"] == "Deployment"
        for pointer in rule["jsonPointers"]
    ]
    assert "/spec/replicas" in ignored, "Argo CD would fight KEDA and the HPA"
    assert "RespectIgnoreDifferences=true" in spec["syncPolicy"]["syncOptions"]


def test_argocd_example_syncs_the_manifests_shipline_commits(
    applications: dict[str, Obj],
) -> None:
    spec = applications["microbank"]["spec"]
    # The committer's default manifest path is k8s/manifests/<service>/deployment.yaml.
    assert spec["source"]["path"] == "k8s/manifests"
    assert spec["source"]["directory"]["recurse"] is True
    assert spec["syncPolicy"]["automated"]["selfHeal"] is True
    for app in applications.values():
        assert app["metadata"]["namespace"] == "argocd"
        assert {"project", "source", "destination"} <= set(app["spec"])

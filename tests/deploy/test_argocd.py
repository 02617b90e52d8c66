"""The Argo CD side in deploy/kubernetes/argocd: Shipline deploying itself from the prod
overlay at a pinned release, in an AppProject that allows exactly what that overlay
renders, without ever deleting the namespace, the Secrets or the volumes; and the example
application syncing the manifests Shipline commits."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.manifests import CLUSTER_SCOPED, KUBERNETES, REPO, group_of, of_kind

ARGOCD = KUBERNETES / "argocd"
PROD = KUBERNETES / "overlays" / "prod"
KEEP = "argocd.argoproj.io/sync-options"
RELEASE_TAG = re.compile(r"^v\d+\.\d+\.\d+$")
COMMIT = re.compile(r"^[0-9a-f]{40}$")

Obj = dict[str, Any]


@pytest.fixture(scope="module")
def argocd(kustomize: Callable[[Path], list[Obj]]) -> list[Obj]:
    return kustomize(ARGOCD)


@pytest.fixture(scope="module")
def applications(argocd: list[Obj]) -> dict[str, Obj]:
    return of_kind(argocd, "Application")


@pytest.fixture(scope="module")
def project(argocd: list[Obj], applications: dict[str, Obj]) -> Obj:
    projects = of_kind(argocd, "AppProject")
    return projects[applications["shipline"]["spec"]["project"]]


def sync_options(obj: Obj) -> set[str]:
    value = obj["metadata"].get("annotations", {}).get(KEEP, "")
    return {option.strip() for option in value.split(",") if option.strip()}


def test_argocd_deploys_shipline_from_the_prod_overlay(applications: dict[str, Obj]) -> None:
    app = applications["shipline"]
    spec = app["spec"]
    assert app["apiVersion"] == "argoproj.io/v1alpha1"
    assert spec["source"]["path"] == "deploy/kubernetes/overlays/prod"
    assert (REPO / spec["source"]["path"] / "kustomization.yaml").is_file()
    shipline = yaml.safe_load((PROD / "shipline" / "kustomization.yaml").read_text())
    assert spec["destination"]["namespace"] == shipline["namespace"]
    assert spec["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}
    ignored = [
        pointer
        for rule in spec["ignoreDifferences"]
        if rule["kind"] == "Deployment"
        for pointer in rule["jsonPointers"]
    ]
    assert "/spec/replicas" in ignored, "Argo CD would fight KEDA and the HPA"
    assert "RespectIgnoreDifferences=true" in spec["syncPolicy"]["syncOptions"]


def test_shipline_is_pinned_to_the_release_its_images_and_version_name(
    applications: dict[str, Obj],
) -> None:
    revision = applications["shipline"]["spec"]["source"]["targetRevision"]
    assert RELEASE_TAG.match(revision) or COMMIT.match(revision), (
        f"targetRevision {revision!r} follows a branch: pin a release tag or a commit"
    )
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert revision == f"v{version}", "a release bumps pyproject, the images and the revision"
    overlay = yaml.safe_load((PROD / "shipline" / "kustomization.yaml").read_text())
    assert {image["newTag"] for image in overlay["images"]} == {version}


def test_deleting_or_syncing_the_app_never_takes_the_namespace_secrets_or_volumes(
    applications: dict[str, Obj], kustomize: Callable[[Path], list[Obj]]
) -> None:
    app = applications["shipline"]
    assert not app["metadata"].get("finalizers"), "a cascading delete would take the namespace"
    for overlay in ("prod", "dev"):
        objects = kustomize(KUBERNETES / "overlays" / overlay)
        kept = [o for o in objects if o["kind"] in {"Namespace", "Secret", "PersistentVolumeClaim"}]
        assert {o["kind"] for o in kept} >= {"Namespace", "PersistentVolumeClaim"}
        for obj in kept:
            assert {"Prune=false", "Delete=false"} <= sync_options(obj), obj["metadata"]["name"]
        # Redis's volume comes from the StatefulSet's claim template: kept when it goes.
        redis = of_kind(objects, "StatefulSet")["redis"]["spec"]
        assert redis["persistentVolumeClaimRetentionPolicy"] == {
            "whenDeleted": "Retain",
            "whenScaled": "Retain",
        }
        for claim in redis["volumeClaimTemplates"]:
            assert {"Prune=false", "Delete=false"} <= sync_options(claim)


def test_shipline_has_its_own_project_allowing_exactly_what_the_prod_overlay_renders(
    applications: dict[str, Obj], project: Obj, kustomize: Callable[[Path], list[Obj]]
) -> None:
    app = applications["shipline"]["spec"]
    spec = project["spec"]
    assert project["metadata"]["name"] != "default"
    assert project["metadata"]["namespace"] == "argocd"
    assert spec["sourceRepos"] == [app["source"]["repoURL"]]
    objects = kustomize(PROD)
    namespaces = {o["metadata"]["namespace"] for o in objects if o["kind"] not in CLUSTER_SCOPED}
    assert {(d["server"], d["namespace"]) for d in spec["destinations"]} == {
        (app["destination"]["server"], namespace) for namespace in namespaces
    }
    kinds = {(group_of(o), o["kind"]) for o in objects}
    cluster = {(group, kind) for group, kind in kinds if kind in CLUSTER_SCOPED}
    assert {(k["group"], k["kind"]) for k in spec["clusterResourceWhitelist"]} == cluster
    assert {(k["group"], k["kind"]) for k in spec["namespaceResourceWhitelist"]} == kinds - cluster
    assert "*" not in yaml.safe_dump(spec), "no wildcard: the project allows what it lists"


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

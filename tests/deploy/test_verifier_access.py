"""The verifier's access to the Kubernetes API, as the rendered overlays grant it: list and
watch (the calls services/verifier/kube.py makes to read) on the kinds it follows, in exactly
the namespaces the server settings tell it to watch and in Argo CD's, and patch on exactly
the Applications it refreshes (clusters[].argocd_refresh), bound to its own ServiceAccount;
cluster-wide only through the optional kustomization."""

from __future__ import annotations

import os
import re
from pathlib import Path

import yaml

from services.common.cluster_settings import ClusterSettings
from tests.deploy.manifests import (
    KUBERNETES,
    NAMESPACES,
    REPO,
    Obj,
    Render,
    of_kind,
    schema_errors,
    server_config,
)

VERBS = ["list", "watch"]
PATCH = ["patch"]  # the refresh annotation, on named Applications only
WORKLOADS = {("apps", "deployments"), ("apps", "statefulsets"), ("", "pods")}
APPLICATIONS = {("argoproj.io", "applications")}
CLUSTER_WIDE = KUBERNETES / "optional" / "cluster-wide"


def granted(rules: list[Obj]) -> set[tuple[str, str]]:
    return {(g, r) for rule in rules for g in rule["apiGroups"] for r in rule["resources"]}


def refreshed(objects: list[Obj]) -> dict[str, set[str]]:
    """The Applications the settings make the verifier annotate, per namespace."""
    wanted: dict[str, set[str]] = {}
    for entry in server_config(objects).get("clusters", []):
        cluster = ClusterSettings.model_validate(entry)
        refresh = cluster.argocd_refresh
        if cluster.in_cluster and refresh and refresh.webhook_url is None:
            wanted.setdefault(cluster.argocd_namespace or "", set()).update(refresh.applications)
    return wanted


def watched(objects: list[Obj]) -> dict[str, set[tuple[str, str]]]:
    """What the settings make the verifier read through its ServiceAccount, per namespace."""
    wanted: dict[str, set[tuple[str, str]]] = {}
    for entry in server_config(objects).get("clusters", []):
        cluster = ClusterSettings.model_validate(entry)
        if not cluster.in_cluster:
            continue  # a kubeconfig brings its own credentials
        for namespace in cluster.namespaces:
            wanted.setdefault(namespace, set()).update(WORKLOADS)
        if cluster.argocd_namespace:
            wanted.setdefault(cluster.argocd_namespace, set()).update(APPLICATIONS)
    return wanted


def test_the_verifiers_code_lists_and_watches_and_patches_only_applications() -> None:
    # The verbs the Roles grant are the calls the adapter makes: list_namespaced_* listers,
    # which the informers also watch with (watch.Watch().stream(lister, ...)), and the one
    # patch, of an Argo CD Application's annotations (argoproj.io applications).
    source = (REPO / "services" / "verifier" / "kube.py").read_text()
    calls = re.findall(r"\.((?:list|read|create|patch|replace|delete)_\w+)", source)
    assert set(calls) == {
        "list_namespaced_deployment",
        "list_namespaced_stateful_set",
        "list_namespaced_pod",
        "list_namespaced_custom_object",
        "patch_namespaced_custom_object",
    }
    assert calls.count("patch_namespaced_custom_object") == 1
    patch = source[source.index("patch_namespaced_custom_object(") :].split(")")[0]
    assert '"argoproj.io"' in patch and '"applications"' in patch


def test_the_verifier_may_list_and_watch_only_where_its_settings_point_it(
    overlay: str, objects: list[Obj]
) -> None:
    assert not of_kind(objects, "ClusterRole"), (
        "cluster-wide access only through optional/cluster-wide"
    )
    assert not of_kind(objects, "ClusterRoleBinding")
    roles = [o for o in objects if o["kind"] == "Role"]
    bindings = [o for o in objects if o["kind"] == "RoleBinding"]
    reads = {
        r["metadata"]["namespace"]: [x for x in r["rules"] if x["verbs"] != PATCH] for r in roles
    }
    access = {namespace: granted(rules) for namespace, rules in reads.items()}
    assert access == watched(objects)
    if overlay == "prod":
        assert access, "the prod example verifies rollouts in its cluster"
        assert refreshed(objects), "the prod example refreshes its Application"
    for namespace, rules in reads.items():
        assert all(rule["verbs"] == VERBS for rule in rules), namespace
    patches = {
        role["metadata"]["namespace"]: rule
        for role in roles
        for rule in role["rules"]
        if rule["verbs"] == PATCH
    }
    assert {ns: set(rule.get("resourceNames", [])) for ns, rule in patches.items()} == refreshed(
        objects
    )
    for rule in patches.values():
        assert granted([rule]) == APPLICATIONS and rule["resourceNames"], rule
    assert len(bindings) == len(roles)
    for binding in bindings:
        namespace = binding["metadata"]["namespace"]
        [role] = [r for r in roles if r["metadata"]["namespace"] == namespace]
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": role["metadata"]["name"],
        }
        assert binding["subjects"] == [
            {
                "kind": "ServiceAccount",
                "name": "shipline-verifier",
                "namespace": NAMESPACES[overlay],
            }
        ]


def test_only_the_verifier_carries_an_api_token(objects: list[Obj]) -> None:
    for name, deployment in of_kind(objects, "Deployment").items():
        spec = deployment["spec"]["template"]["spec"]
        assert spec["automountServiceAccountToken"] is False, name
        tokens = [v for v in spec.get("volumes", []) if "projected" in v]
        if name == "shipline-verifier":
            assert spec["serviceAccountName"] == "shipline-verifier"
            [token] = tokens
            assert {"serviceAccountToken": {"path": "token", "expirationSeconds": 3607}} in token[
                "projected"
            ]["sources"]
        else:
            assert spec["serviceAccountName"] == "shipline" and not tokens, name


def test_the_optional_cluster_wide_access_grants_the_same_reads_in_every_namespace(
    kustomize: Render, prod: list[Obj], tmp_path: Path
) -> None:
    # An overlay that opts in, as docs/deploy.md tells: the prod overlay plus cluster-wide.
    overlay = KUBERNETES / "overlays" / "prod"
    (tmp_path / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "bases": [os.path.relpath(path, tmp_path) for path in (overlay, CLUSTER_WIDE)],
            }
        )
    )
    objects = kustomize(tmp_path)
    [role] = of_kind(objects, "ClusterRole").values()
    [binding] = of_kind(objects, "ClusterRoleBinding").values()
    reads = [rule for rule in role["rules"] if rule["verbs"] != PATCH]
    assert granted(reads) == WORKLOADS | APPLICATIONS
    assert all(rule["verbs"] == VERBS for rule in reads)
    [patch] = [rule for rule in role["rules"] if rule["verbs"] == PATCH]
    assert granted([patch]) == APPLICATIONS  # the refresh annotation
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "shipline-verifier", "namespace": "shipline"}
    ]
    errors = [error for obj in (role, binding) for error in schema_errors(obj)]
    assert not errors, "\n".join(errors)
    # everything else is the prod overlay as it was
    assert len(objects) == len(prod) + 2

"""Reading rendered deploy/kubernetes objects: lookups by kind, pod specs, the server
config in the ConfigMap, and the offline schema check every rendered object must pass
(kubernetes-validate, strict, for core kinds; KEDA's vendored CRD schemas for its own)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

REPO = Path(__file__).resolve().parents[2]
KUBERNETES = REPO / "deploy" / "kubernetes"
SCHEMAS = Path(__file__).parent / "schemas"
NAMESPACES = {"dev": "shipline-dev", "prod": "shipline"}
# The oldest Kubernetes the manifests target (KEDA 2.16 supports 1.29+) and the newest
# kubernetes-validate knows.
KUBERNETES_VERSIONS = ("1.29", kubernetes_validate.utils.latest_version())
CRD_SCHEMAS = {
    ("keda.sh/v1alpha1", "ScaledObject"): "keda-scaledobject-v1alpha1.yaml",
    ("keda.sh/v1alpha1", "TriggerAuthentication"): "keda-triggerauthentication-v1alpha1.yaml",
}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding"}

Obj = dict[str, Any]
Render = Callable[[Path], list[Obj]]


def of_kind(objects: list[Obj], kind: str) -> dict[str, Obj]:
    """The objects of one kind by name (names are unique per kind within one namespace)."""
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def pod_specs(objects: list[Obj]) -> Iterator[tuple[str, Obj]]:
    for obj in objects:
        if obj["kind"] in {"Deployment", "StatefulSet"}:
            yield obj["metadata"]["name"], obj["spec"]["template"]["spec"]


def container(deployment: Obj) -> Obj:
    [only] = deployment["spec"]["template"]["spec"]["containers"]
    return dict(only)


def env_of(container: Obj) -> dict[str, Obj]:
    return {e["name"]: e for e in container.get("env", [])}


def server_config(objects: list[Obj]) -> Obj:
    [config_map] = [o for o in objects if o["kind"] == "ConfigMap"]
    return dict(yaml.safe_load(config_map["data"]["config.yaml"]))


def config_value(objects: list[Obj], key: str) -> str:
    [config_map] = [o for o in objects if o["kind"] == "ConfigMap"]
    return str(config_map["data"][key])


def group_of(obj: Obj) -> str:
    """The API group of an object ("" for the core group)."""
    api_version = str(obj["apiVersion"])
    return api_version.split("/")[0] if "/" in api_version else ""


# --- schemas -------------------------------------------------------------------------------


def closed(schema: Any) -> Any:
    """The schema with unknown fields rejected, as `kubectl apply` (strict field validation)
    rejects them: objects that list their properties get additionalProperties: false."""
    if isinstance(schema, list):
        return [closed(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result = {key: closed(value) for key, value in schema.items()}
    open_ended = "additionalProperties" in result or result.get(
        "x-kubernetes-preserve-unknown-fields"
    )
    if "properties" in result and not open_ended:
        result["additionalProperties"] = False
    return result


def crd_validator(api_version: str, kind: str) -> jsonschema.Draft7Validator:
    schema = yaml.safe_load((SCHEMAS / CRD_SCHEMAS[(api_version, kind)]).read_text())
    return jsonschema.Draft7Validator(closed(schema))


def schema_errors(obj: Obj) -> list[str]:
    """Why `obj` does not validate, against every targeted Kubernetes version; [] if it does."""
    where = f"{obj['kind']}/{obj['metadata']['name']}"
    key = (obj["apiVersion"], obj["kind"])
    if key in CRD_SCHEMAS:
        return [
            f"{where}: {'.'.join(map(str, error.path))}: {error.message}"
            for error in crd_validator(*key).iter_errors(obj)
        ]
    errors = []
    for version in KUBERNETES_VERSIONS:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            path = ".".join(map(str, error.path))
            errors.append(f"{where} (Kubernetes {version}): {path}: {error.message}")
        except kubernetes_validate.SchemaNotFoundError as error:
            errors.append(f"{where}: no schema: {error.message}")
    return errors

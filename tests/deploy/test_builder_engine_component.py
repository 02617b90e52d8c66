"""deploy/kubernetes/optional/builder-engine: the Component that gives each builder pod a
rootless Docker engine of its own as a native sidecar, rendered with the real kustomize the
way docs/deploy.md adds it (to overlays/prod's top kustomization), and checked against the
Kubernetes schemas. tests/deploy/test_builder_engine_rootless.py runs its command for real."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from services.common.settings import Settings
from tests.deploy.manifests import (
    KUBERNETES,
    Obj,
    container,
    env_of,
    of_kind,
    pod_specs,
    schema_errors,
)

COMPONENT = KUBERNETES / "optional" / "builder-engine"
# User namespaces for pods (hostUsers) and procMount: Unmasked are on by default from 1.33.
ENGINE_KUBERNETES_VERSIONS = ("1.33", kubernetes_validate.utils.latest_version())


@pytest.fixture(scope="module")
def with_engine(
    kustomize: Callable[[Path], list[dict[str, Any]]], tmp_path_factory: pytest.TempPathFactory
) -> list[Obj]:
    """overlays/prod with the Component, as its top kustomization would list it (kustomize
    takes only relative paths to other roots)."""
    root = tmp_path_factory.mktemp("overlay")
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [os.path.relpath(KUBERNETES / "overlays" / "prod", root)],
        "components": [os.path.relpath(COMPONENT, root)],
    }
    (root / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    return kustomize(root)


def builder_pod(objects: list[Obj]) -> Obj:
    return dict(of_kind(objects, "Deployment")["shipline-builder"]["spec"]["template"]["spec"])


def engine_of(pod: Obj) -> Obj:
    [engine] = pod["initContainers"]
    return dict(engine)


def volumes_of(pod: Obj) -> dict[str, Obj]:
    return {volume["name"]: volume for volume in pod["volumes"]}


def mounts_of(box: Obj) -> dict[str, str]:
    return {mount["name"]: mount["mountPath"] for mount in box.get("volumeMounts", [])}


def test_the_builder_reaches_its_own_engine_through_a_unix_socket_on_a_shared_emptydir(
    with_engine: list[Obj],
) -> None:
    pod = builder_pod(with_engine)
    builder = container(of_kind(with_engine, "Deployment")["shipline-builder"])
    engine = engine_of(pod)
    env = env_of(builder)

    host = env["DOCKER_HOST"]
    assert "valueFrom" not in host
    socket = Path(host["value"].removeprefix("unix://"))
    assert host["value"].startswith("unix:///run/")
    [shared] = [name for name, path in mounts_of(builder).items() if path == str(socket.parent)]
    assert mounts_of(engine)[shared] == str(socket.parent)
    assert "emptyDir" in volumes_of(pod)[shared]
    assert f"--host={host['value']}" in engine["command"][-1].split()
    assert env_of(engine)["DOCKER_HOST"]["value"] == host["value"]  # what its probes ask
    assert {"DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"}.isdisjoint(env)
    assert "docker-tls" not in volumes_of(pod)  # no TLS Secret to create


def test_no_pod_mounts_a_host_path_or_runs_privileged_and_the_engine_runs_as_non_root(
    with_engine: list[Obj],
) -> None:
    for name, spec in pod_specs(with_engine):
        assert not [v for v in spec.get("volumes", []) if "hostPath" in v], name
        for box in [*spec.get("initContainers", []), *spec["containers"]]:
            assert box.get("securityContext", {}).get("privileged") is not True, box["name"]

    pod = builder_pod(with_engine)
    context = engine_of(pod)["securityContext"]
    assert pod["hostUsers"] is False  # its uids, the setuid newuidmap too, unprivileged
    assert context["runAsNonRoot"] is True
    assert context["runAsUser"] == context["runAsGroup"] == 1000  # the image's `rootless`
    assert context["privileged"] is False
    assert context["capabilities"] == {"drop": ["ALL"], "add": ["SETUID", "SETGID"]}
    assert context["procMount"] == "Unmasked"
    assert 1000 in pod["securityContext"]["supplementalGroups"]  # the socket's group
    assert engine_of(pod)["command"][0] == "rootlesskit"


def test_the_engine_is_a_native_sidecar_with_resources_and_a_cache_of_bounded_size(
    with_engine: list[Obj],
) -> None:
    pod = builder_pod(with_engine)
    engine = engine_of(pod)
    volumes = volumes_of(pod)

    assert engine["restartPolicy"] == "Always"  # starts before the builder, stops after it
    assert engine["startupProbe"]["exec"]["command"][:2] == ["docker", "version"]
    assert {"cpu", "memory"} <= set(engine["resources"]["requests"])
    assert {"cpu", "memory"} <= set(engine["resources"]["limits"])
    cache = mounts_of(engine)
    assert cache["engine-cache"] == "/home/rootless/.local/share/docker"
    assert "--data-root=/home/rootless/.local/share/docker" in engine["command"][-1].split()
    for name in mounts_of(engine):
        assert volumes[name]["emptyDir"]["sizeLimit"], name
    assert volumes["engine-cache"]["emptyDir"]["sizeLimit"] == "20Gi"
    assert engine["resources"]["requests"]["ephemeral-storage"] == "20Gi"


def test_keda_scales_the_builder_deployment_one_engine_per_pod_with_its_builds_per_pod(
    with_engine: list[Obj], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scaled = of_kind(with_engine, "ScaledObject")["shipline-builder"]["spec"]
    builder = container(of_kind(with_engine, "Deployment")["shipline-builder"])
    [config_map] = [o for o in with_engine if o["kind"] == "ConfigMap"]
    config = tmp_path / "config.yaml"
    config.write_text(config_map["data"]["config.yaml"])
    for key in [key for key in os.environ if key.startswith("SHIPLINE_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("SHIPLINE_CONFIG", str(config))
    per_pod = env_of(builder)["SHIPLINE_CONCURRENCY__BUILDER"]["value"]
    monkeypatch.setenv("SHIPLINE_CONCURRENCY__BUILDER", per_pod)

    settings = Settings()  # what the builder's pod starts with

    assert scaled["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "shipline-builder",
    }
    [trigger] = scaled["triggers"]
    assert trigger["metadata"]["listName"] == "shipline.builder"
    assert settings.stage_concurrency("builder") == int(per_pod) == 2
    assert settings.stage_concurrency("scanner") == 2  # the rest of config.yaml still holds
    assert scaled["maxReplicaCount"] == 10  # over prod's 3: each pod brings its engine
    assert scaled["minReplicaCount"] == 1


def test_the_component_changes_only_the_builder_and_everything_validates(
    with_engine: list[Obj], prod: list[Obj]
) -> None:
    changed = {
        (obj["kind"], obj["metadata"]["name"])
        for obj in with_engine
        if obj not in prod
    }  # fmt: skip
    builder = of_kind(with_engine, "Deployment")["shipline-builder"]
    builder_errors = []
    for version in ENGINE_KUBERNETES_VERSIONS:
        try:
            kubernetes_validate.validate(builder, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            builder_errors.append(f"{version}: {'.'.join(map(str, error.path))}: {error.message}")
    others = [obj for obj in with_engine if obj is not builder]

    assert changed == {("Deployment", "shipline-builder"), ("ScaledObject", "shipline-builder")}
    assert builder_errors == []
    assert [error for obj in others for error in schema_errors(obj)] == []

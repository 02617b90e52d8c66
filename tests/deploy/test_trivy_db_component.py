"""deploy/kubernetes/optional/trivy-db: the Component that gives each scanner pod an init
container fetching Trivy's DB into the pod's cache before the worker starts, rendered with
the real kustomize the way an overlay includes it, and its command run for real with the
prod server config (no secret, no Redis) against a mirror on the test registry."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from services.cli import main
from services.devenv.registry import Registry
from tests.deploy.manifests import KUBERNETES, Obj, container, of_kind, schema_errors, server_config
from tests.scanner.db_artifact import push_db

COMPONENT = KUBERNETES / "optional" / "trivy-db"
SCANNER_IMAGE = "ghcr.io/shipline/shipline-scanner:0.1.0"


@pytest.fixture(scope="module")
def with_component(
    kustomize: Callable[[Path], list[dict[str, Any]]], tmp_path_factory: pytest.TempPathFactory
) -> list[Obj]:
    """The base with the Component, in a kustomization that sets the images (as
    overlays/prod/shipline does): kustomize takes only relative paths to other roots."""
    root = tmp_path_factory.mktemp("overlay")
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [os.path.relpath(KUBERNETES / "base", root)],
        "components": [os.path.relpath(COMPONENT, root)],
        "images": [
            {"name": "shipline-scanner", "newName": SCANNER_IMAGE.rsplit(":", 1)[0],
             "newTag": "0.1.0"},
        ],
    }  # fmt: skip
    (root / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    return kustomize(root)


def test_the_scanner_pod_fetches_the_db_into_its_cache_volume_before_the_worker_starts(
    with_component: list[Obj],
) -> None:
    scanner = of_kind(with_component, "Deployment")["shipline-scanner"]
    pod = scanner["spec"]["template"]["spec"]
    [fetch] = pod["initContainers"]
    worker = container(scanner)
    mounts = {m["name"]: m["mountPath"] for m in fetch["volumeMounts"]}
    worker_mounts = {m["name"]: m["mountPath"] for m in worker["volumeMounts"]}

    assert fetch["command"] == ["shipline", "scanner", "fetch-db"]
    assert fetch["image"] == worker["image"] == SCANNER_IMAGE
    assert mounts["workdir"] == worker_mounts["workdir"] == "/var/lib/shipline"
    assert mounts["config"] == worker_mounts["config"]
    assert {"tmp", "registry-pull"} <= set(mounts)
    assert fetch["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert fetch["resources"]["limits"]["memory"] == "1Gi"


def test_the_component_changes_only_the_scanner_and_everything_still_validates(
    with_component: list[Obj],
) -> None:
    with_init = {
        name
        for name, deployment in of_kind(with_component, "Deployment").items()
        if deployment["spec"]["template"]["spec"].get("initContainers")
    }

    assert with_init == {"shipline-scanner"}
    assert [error for obj in with_component for error in schema_errors(obj)] == []


def test_the_init_containers_command_fetches_with_the_prod_config_and_no_secret_or_redis(
    prod: list[Obj], registry: Registry, trivy_path: Path, tmp_path: Path
) -> None:
    metadata = {"Version": 2, "UpdatedAt": "2026-12-01T00:00:00Z", "NextUpdate": None}
    push_db(
        registry,
        "prod-mirror/trivy-db",
        "2",
        "db",
        {"metadata.json": json.dumps(metadata).encode()},
    )
    config = server_config(prod)
    config["scanner"].update(
        trivy_path=str(trivy_path),
        cache_dir=str(tmp_path / "trivy-cache"),  # /var/lib/shipline is the pod's volume
        db_repository=f"{registry.host}/prod-mirror/trivy-db:2",
    )
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {key: None for key in os.environ if key.startswith("SHIPLINE_")}

    result = CliRunner().invoke(
        main, ["scanner", "fetch-db"], env={**env, "SHIPLINE_CONFIG": str(path)}
    )

    assert result.exit_code == 0, result.output
    assert result.output.startswith("vulnerability DB built 2026-12-01 00:00 UTC: fetched from ")
    assert (tmp_path / "trivy-cache" / "db" / "metadata.json").is_file()

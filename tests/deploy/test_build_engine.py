"""The builder's Docker engine as the rendered overlays reach it: in prod a remote engine
over mutual TLS, never the node's socket; and never more builds in flight than the one
engine is sized for (builder maxReplicaCount x concurrency.builder)."""

from __future__ import annotations

import copy
import re

from services.common.settings import Settings
from tests.deploy.manifests import (
    REPO,
    Obj,
    config_value,
    container,
    env_of,
    of_kind,
    pod_specs,
    server_config,
)


def test_prod_builder_reaches_a_remote_engine_over_tls_and_nothing_mounts_the_socket(
    prod: list[Obj],
) -> None:
    objects = copy.deepcopy(prod)
    for name, spec in pod_specs(objects):
        assert not [v for v in spec.get("volumes", []) if "hostPath" in v], name
        for box in spec["containers"]:
            assert not [m for m in box.get("volumeMounts", []) if "docker.sock" in m["mountPath"]]

    builder = container(of_kind(objects, "Deployment")["shipline-builder"])
    env = env_of(builder)
    host = config_value(objects, env["DOCKER_HOST"]["valueFrom"]["configMapKeyRef"]["key"])
    assert host.startswith("tcp://") and host.endswith(":2376"), host
    assert not host.split(":")[1].endswith(".invalid"), "prod must name its Docker engine"
    assert env["DOCKER_TLS_VERIFY"]["value"] == "1"
    cert_path = env["DOCKER_CERT_PATH"]["value"]
    [mount] = [m for m in builder["volumeMounts"] if m["mountPath"] == cert_path]
    spec = of_kind(objects, "Deployment")["shipline-builder"]["spec"]["template"]["spec"]
    [volume] = [v for v in spec["volumes"] if v["name"] == mount["name"]]
    assert volume["secret"]["secretName"] == "shipline-docker-tls"
    assert {i["path"] for i in volume["secret"]["items"]} == {"ca.pem", "cert.pem", "key.pem"}


def documented_engine_capacity() -> int:
    """The builds at once docs/deploy.md sizes the one Docker engine for (its upper bound)."""
    guide = (REPO / "docs" / "deploy.md").read_text()
    match = re.search(r"engine[^.]*takes\s+(\d+)–(\d+)\s+builds\s+at\s+once", guide)
    assert match, "docs/deploy.md no longer says how many builds the engine takes"
    return int(match.group(2))


def test_builds_in_flight_never_exceed_what_the_one_engine_is_sized_for(
    overlay: str, objects: list[Obj]
) -> None:
    builder = of_kind(objects, "ScaledObject")["shipline-builder"]["spec"]
    default = Settings.model_fields["concurrency"].get_default()["builder"]
    concurrency = server_config(objects).get("concurrency", {}).get("builder", default)
    in_flight = builder["maxReplicaCount"] * concurrency
    capacity = documented_engine_capacity()
    assert in_flight <= capacity, (
        f"{overlay}: {builder['maxReplicaCount']} builder pods x concurrency {concurrency} = "
        f"{in_flight} builds on an engine sized for {capacity}"
    )
    assert builder["minReplicaCount"] * concurrency <= capacity

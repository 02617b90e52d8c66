"""deploy/kubernetes as a cluster would receive it: both overlays rendered by kustomize,
every object checked offline against the Kubernetes API schemas (kubernetes-validate,
strict) and KEDA's CRD schemas (vendored in tests/deploy/schemas), then the properties that
operating Shipline relies on: one autoscaled Deployment per stage on the queue the code
routes to, locked-down pods, secrets kept out of git (the network policies, the verifier's
access, the build engine and Argo CD have test modules of their own beside this one).

Rendering (the `kustomize` fixture, tests/deploy/conftest.py) needs `kustomize` or
`kubectl` on PATH; a missing one fails, never skips.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest
import yaml

from services.common.bus import queue_name
from services.common.heartbeat import MAX_AGE_SECONDS
from services.common.settings import STAGES, load_settings
from tests.deploy.manifests import (
    CLUSTER_SCOPED,
    KUBERNETES,
    NAMESPACES,
    REPO,
    Obj,
    Render,
    config_value,
    container,
    env_of,
    of_kind,
    pod_specs,
    schema_errors,
    server_config,
)
from tests.deploy.test_secrets import SECRETS_OF_STAGES

# Created outside git in prod (listed in overlays/prod/shipline/kustomization.yaml and
# docs/deploy.md).
PROD_SECRETS = {"shipline-redis", "shipline-docker-tls"} | set(SECRETS_OF_STAGES)
WORKDIR = "/var/lib/shipline"


def test_both_overlays_render_everything_into_their_own_namespace(
    overlay: str, objects: list[Obj]
) -> None:
    namespace = NAMESPACES[overlay]
    assert list(of_kind(objects, "Namespace")) == [namespace]
    kinds = {o["kind"] for o in objects}
    assert {"Deployment", "StatefulSet", "Service", "Ingress", "ConfigMap"} <= kinds
    assert {"HorizontalPodAutoscaler", "ScaledObject", "TriggerAuthentication"} <= kinds
    assert {"ServiceAccount", "PodDisruptionBudget", "NetworkPolicy"} <= kinds
    for obj in objects:
        where = obj["metadata"].get("namespace")
        if obj["kind"] in CLUSTER_SCOPED:
            assert where is None, obj["metadata"]["name"]
        elif obj["kind"] not in {"Role", "RoleBinding"}:  # the verifier's, where it reads
            assert where == namespace, f"{obj['kind']}/{obj['metadata']['name']}"


def test_every_rendered_object_validates_against_its_schema(objects: list[Obj]) -> None:
    errors = [error for obj in objects for error in schema_errors(obj)]
    assert not errors, "\n".join(errors)


def test_schema_checks_reject_misspelled_and_mistyped_fields(objects: list[Obj]) -> None:
    scaled = next(iter(of_kind(objects, "ScaledObject").values()))
    scaled["spec"]["maxReplicas"] = 3  # the HPA's name for maxReplicaCount
    assert any("maxReplicas" in e for e in schema_errors(scaled))
    scaled = next(iter(of_kind(objects, "ScaledObject").values()))
    scaled["spec"]["triggers"][0]["metadata"]["listLength"] = 2  # metadata values are strings
    assert schema_errors(scaled)
    deployment = of_kind(objects, "Deployment")["shipline-builder"]
    deployment["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnly"] = True
    assert any("readOnly" in e for e in schema_errors(deployment))


# --- the pipeline stages -------------------------------------------------------------------


@pytest.mark.parametrize("stage", STAGES)
def test_every_stage_has_a_deployment_scaled_by_keda_on_its_own_queue(
    objects: list[Obj], stage: str
) -> None:
    deployment = of_kind(objects, "Deployment").get(f"shipline-{stage}")
    assert deployment, f"no Deployment for the {stage} stage"
    assert container(deployment)["command"] == ["shipline", "worker", stage]
    assert "replicas" not in deployment["spec"], "KEDA owns the replica count"

    scalers = [
        s
        for s in of_kind(objects, "ScaledObject").values()
        if s["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    ]
    assert len(scalers) == 1, f"{stage}: {len(scalers)} ScaledObjects target its Deployment"
    spec = scalers[0]["spec"]
    assert spec["scaleTargetRef"].get("kind", "Deployment") == "Deployment"
    assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
    [trigger] = spec["triggers"]
    assert trigger["type"] == "redis"
    assert trigger["metadata"]["listName"] == queue_name(stage)


def test_no_scaled_object_watches_a_queue_the_code_does_not_route_to(
    objects: list[Obj],
) -> None:
    queues = {
        trigger["metadata"].get("listName")
        for scaled in of_kind(objects, "ScaledObject").values()
        for trigger in scaled["spec"]["triggers"]
    }
    assert queues == {queue_name(stage) for stage in STAGES}


def test_keda_reaches_redis_through_the_workers_env_and_the_redis_secret(
    overlay: str, objects: list[Obj]
) -> None:
    auths = of_kind(objects, "TriggerAuthentication")
    deployments = of_kind(objects, "Deployment")
    for name, scaled in of_kind(objects, "ScaledObject").items():
        [trigger] = scaled["spec"]["triggers"]
        variable = trigger["metadata"]["addressFromEnv"]
        target = deployments[scaled["spec"]["scaleTargetRef"]["name"]]
        assert variable in env_of(container(target)), f"{name}: {variable} not in the worker"
        auth = auths[trigger["authenticationRef"]["name"]]
        assert {
            (ref["parameter"], ref["name"], ref["key"]) for ref in auth["spec"]["secretTargetRef"]
        } == {("password", "shipline-redis", "password")}
        assert trigger["metadata"]["databaseIndex"] == "0"
    # KEDA resolves the address from its own namespace: it must be fully qualified.
    address = config_value(objects, "REDIS_ADDRESS")
    assert address == f"redis.{NAMESPACES[overlay]}.svc.cluster.local:6379"


def test_keda_adds_a_pod_while_any_task_waits_and_lets_builds_finish_before_scaling_down(
    objects: list[Obj],
) -> None:
    # KEDA only sees waiting messages (a task in progress has left the list): one per pod.
    scaled = of_kind(objects, "ScaledObject")
    for stage in STAGES:
        [trigger] = scaled[f"shipline-{stage}"]["spec"]["triggers"]
        assert trigger["metadata"]["listLength"] == "1", stage
        assert trigger["metadata"]["activationListLength"] == "0", stage
    behavior = scaled["shipline-builder"]["spec"]["advanced"]["horizontalPodAutoscalerConfig"]
    builder = of_kind(objects, "Deployment")["shipline-builder"]["spec"]["template"]["spec"]
    assert (
        behavior["behavior"]["scaleDown"]["stabilizationWindowSeconds"]
        >= builder["terminationGracePeriodSeconds"]
    )


def test_the_apps_redis_url_uses_the_address_keda_uses(objects: list[Obj]) -> None:
    for name, deployment in of_kind(objects, "Deployment").items():
        env = env_of(container(deployment))
        assert env["SHIPLINE_REDIS_URL"]["value"] == "redis://:$(REDIS_PASSWORD)@$(REDIS_ADDRESS)/0"
        assert env["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
            "name": "shipline-redis",
            "key": "password",
        }, name
        # $(VAR) only expands variables defined earlier in the list.
        names = list(env)
        assert names.index("SHIPLINE_REDIS_URL") > names.index("REDIS_ADDRESS"), name
        assert names.index("SHIPLINE_REDIS_URL") > names.index("REDIS_PASSWORD"), name


def test_the_rendered_server_config_is_valid_settings(
    overlay: str, objects: list[Obj], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(server_config(objects)))
    for key in [key for key in os.environ if key.startswith("SHIPLINE_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("SHIPLINE_CONFIG", str(config))
    redis_secret = of_kind(objects, "Secret").get("shipline-redis")
    password = (
        redis_secret["stringData"]["password"] if redis_secret else "a-real-redis-password-0123"
    )
    # the URL as the pods build it from REDIS_ADDRESS and the Secret: prod requires a password
    address = config_value(objects, "REDIS_ADDRESS")
    monkeypatch.setenv("SHIPLINE_REDIS_URL", f"redis://:{password}@{address}/0")
    settings = load_settings(())  # the secret files: tests/deploy/test_secrets.py
    assert settings.env == overlay
    assert str(settings.workdir) == WORKDIR
    assert settings.log_format == "json"


def test_worker_grace_periods_cover_their_tasks_and_the_visibility_timeout_the_longest(
    objects: list[Obj],
) -> None:
    config = server_config(objects)
    deployments = of_kind(objects, "Deployment")
    grace = {
        stage: deployments[f"shipline-{stage}"]["spec"]["template"]["spec"][
            "terminationGracePeriodSeconds"
        ]
        for stage in STAGES
    }
    assert grace["scanner"] > config["scanner"]["timeout_seconds"]
    assert grace["builder"] >= 600, "a warm shutdown must be able to wait for a build"
    assert all(seconds >= 60 for seconds in grace.values()), grace
    assert config["visibility_timeout"] > max(grace.values())


# --- pods ----------------------------------------------------------------------------------


def test_pods_run_as_non_root_without_privileges_on_a_read_only_root(objects: list[Obj]) -> None:
    for name, spec in pod_specs(objects):
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True and pod["runAsUser"] != 0, name
        assert pod["seccompProfile"]["type"] == "RuntimeDefault", name
        assert spec["automountServiceAccountToken"] is False, name
        # Only the verifier reads the Kubernetes API: its own account, its token mounted.
        account = "shipline-verifier" if name == "shipline-verifier" else "shipline"
        assert spec["serviceAccountName"] == account, name
        for box in spec["containers"]:
            security = box["securityContext"]
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["readOnlyRootFilesystem"] is True, name
            assert security["capabilities"]["drop"] == ["ALL"], name
            assert not security.get("privileged"), name
            assert "add" not in security["capabilities"], name


def test_writable_paths_are_volumes(objects: list[Obj]) -> None:
    claims = {
        claim["metadata"]["name"]: {"persistentVolumeClaim": claim["spec"]}
        for obj in of_kind(objects, "StatefulSet").values()
        for claim in obj["spec"].get("volumeClaimTemplates", [])
    }
    for name, spec in pod_specs(objects):
        volumes = claims | {v["name"]: v for v in spec["volumes"]}
        [box] = spec["containers"]
        mounts = {m["mountPath"]: volumes[m["name"]] for m in box["volumeMounts"]}
        assert "emptyDir" in mounts["/tmp"], name
        if name.startswith("shipline-"):
            assert "emptyDir" in mounts[WORKDIR], f"{name}: the workdir is not writable"
            assert "configMap" in mounts["/etc/shipline"], name


def test_containers_have_requests_limits_and_probes(objects: list[Obj]) -> None:
    for name, spec in pod_specs(objects):
        for box in spec["containers"]:
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(box["resources"][bound]), f"{name} {bound}"
            assert "readinessProbe" in box and "livenessProbe" in box, name


@pytest.mark.parametrize("stage", STAGES)
def test_worker_probes_read_the_heartbeat_and_outlast_its_age(
    objects: list[Obj], stage: str
) -> None:
    box = container(of_kind(objects, "Deployment")[f"shipline-{stage}"])
    heartbeat = ["python", "-m", "services.common.heartbeat", stage]
    assert box["readinessProbe"]["exec"]["command"] == [*heartbeat, "--ready"]
    liveness = box["livenessProbe"]
    assert liveness["exec"]["command"] == heartbeat  # max age: MAX_AGE_SECONDS
    # restarted only when the heartbeat is older than its max age, never for a slow beat
    assert liveness["periodSeconds"] * liveness["failureThreshold"] >= MAX_AGE_SECONDS
    spec = of_kind(objects, "Deployment")[f"shipline-{stage}"]["spec"]["template"]["spec"]
    assert spec["shareProcessNamespace"] is True  # pause is PID 1 and reaps git/trivy


def test_gateway_is_served_by_a_service_an_ingress_and_scaled_by_an_hpa(
    objects: list[Obj],
) -> None:
    gateway = of_kind(objects, "Deployment")["shipline-gateway"]
    box = container(gateway)
    assert box["command"][:2] == ["shipline", "api"] and "8080" in box["command"]
    assert box["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert box["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert "replicas" not in gateway["spec"], "the HPA owns the replica count"
    labels = gateway["spec"]["template"]["metadata"]["labels"]

    service = of_kind(objects, "Service")["shipline-gateway"]
    assert service["spec"]["selector"].items() <= labels.items()
    [port] = service["spec"]["ports"]
    assert port["targetPort"] == "http"
    paths = {
        path["path"]: path["backend"]["service"]["name"]
        for rule in of_kind(objects, "Ingress")["shipline-gateway"]["spec"]["rules"]
        for path in rule["http"]["paths"]
    }
    assert paths == {"/webhooks": "shipline-gateway", "/api": "shipline-gateway"}
    hpa = of_kind(objects, "HorizontalPodAutoscaler")["shipline-gateway"]
    assert hpa["spec"]["scaleTargetRef"]["name"] == "shipline-gateway"


def test_redis_requires_the_password_of_the_redis_secret(objects: list[Obj]) -> None:
    box = container(of_kind(objects, "StatefulSet")["redis"])
    args = box["args"]
    assert args[args.index("--requirepass") + 1] == "$(REDIS_PASSWORD)"
    env = env_of(box)
    for name in ("REDIS_PASSWORD", "REDISCLI_AUTH"):  # the server's and its probes' redis-cli
        assert env[name]["valueFrom"]["secretKeyRef"] == {
            "name": "shipline-redis",
            "key": "password",
        }
    for probe in ("readinessProbe", "livenessProbe"):
        # redis-cli exits 0 on an error reply (NOAUTH): only a PONG (or LOADING) is healthy
        command = " ".join(box[probe]["exec"]["command"])
        assert "redis-cli ping | grep" in command and "PONG" in command, probe


def test_redis_keeps_an_append_only_file_on_a_persistent_volume(objects: list[Obj]) -> None:
    redis = of_kind(objects, "StatefulSet")["redis"]
    box = container(redis)
    args = box["args"]
    assert args[args.index("--appendonly") + 1] == "yes"
    assert args[args.index("--maxmemory-policy") + 1] == "noeviction"
    [claim] = redis["spec"]["volumeClaimTemplates"]
    assert {"name": "data", "mountPath": "/data"} in box["volumeMounts"]
    assert claim["metadata"]["name"] == "data"
    assert of_kind(objects, "Service")["redis"]["spec"]["ports"][0]["port"] == 6379


def test_every_workload_has_a_disruption_budget_and_a_network_policy(
    objects: list[Obj],
) -> None:
    budgets = of_kind(objects, "PodDisruptionBudget").values()
    policies = of_kind(objects, "NetworkPolicy").values()
    assert any(
        p["spec"]["podSelector"] == {} and set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}
        for p in policies
    ), "no default-deny NetworkPolicy"

    def selects(selector: Obj, labels: dict[str, str]) -> bool:
        if not selector.get("matchLabels") and not selector.get("matchExpressions"):
            return False  # the namespace-wide policies do not count
        if not selector.get("matchLabels", {}).items() <= labels.items():
            return False
        return all(
            labels.get(e["key"]) in e["values"] for e in selector.get("matchExpressions", [])
        )

    for obj in of_kind(objects, "Deployment").values():
        labels = obj["spec"]["template"]["metadata"]["labels"]
        name = obj["metadata"]["name"]
        assert any(selects(b["spec"]["selector"], labels) for b in budgets), f"{name}: no PDB"
        assert any(selects(p["spec"]["podSelector"], labels) for p in policies), name


# --- secrets -----------------------------------------------------------------------------


def test_prod_renders_no_secrets_and_uses_only_the_documented_ones(prod: list[Obj]) -> None:
    objects = copy.deepcopy(prod)
    assert not of_kind(objects, "Secret"), "prod Secrets are created outside git"
    referenced = set()
    for _, spec in pod_specs(objects):
        referenced |= {v["secret"]["secretName"] for v in spec["volumes"] if "secret" in v}
        for box in spec["containers"]:
            referenced |= {s["secretRef"]["name"] for s in box.get("envFrom", [])}
            referenced |= {
                e["valueFrom"]["secretKeyRef"]["name"]
                for e in box.get("env", [])
                if "secretKeyRef" in e.get("valueFrom", {})
            }
    assert referenced == PROD_SECRETS
    documented = (KUBERNETES / "overlays" / "prod" / "shipline" / "kustomization.yaml").read_text()
    guide = (REPO / "docs" / "deploy.md").read_text()
    for secret in PROD_SECRETS:
        assert secret in documented and secret in guide, f"{secret} is not documented"


def test_prod_namespace_enforces_the_restricted_pod_security_standard(prod: list[Obj]) -> None:
    labels = of_kind(prod, "Namespace")["shipline"]["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


def test_dev_and_prod_can_share_a_cluster_their_cluster_scoped_objects_differ(
    kustomize: Render, prod: list[Obj]
) -> None:
    dev = kustomize(KUBERNETES / "overlays" / "dev")

    def names(objects: list[Obj]) -> set[tuple[str, str]]:
        return {(o["kind"], o["metadata"]["name"]) for o in objects if o["kind"] in CLUSTER_SCOPED}

    assert names(dev) and names(prod)
    assert not names(dev) & names(prod)

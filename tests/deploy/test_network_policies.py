"""The NetworkPolicies of both rendered overlays, read as the cluster enforces them: for
each pod, the union of every policy that selects it. Each stage may reach exactly the
ports its own code uses (git, registries, the Docker engine, SMTP, the API server), no pod
may reach the cloud metadata service, every IPv4 rule to anywhere has its IPv6 twin, and
only the ingress controller and Prometheus reach the gateway."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from services.common.settings import STAGES
from tests.deploy.manifests import Obj, config_value, container, of_kind

# Ports each stage reaches outside the cluster (0.0.0.0/0 and ::/0): docs/deploy.md
# "Network policies" has the same table.
OUTSIDE = {
    "detector": {22, 443},  # git
    "builder": {22, 443, 2376},  # git, registries, the Docker engine
    "scanner": {22, 443},  # git, registries, a Trivy server on https
    "committer": {22, 443},  # git
    "notifier": {443, 587, 465},  # webhooks, Slack, GitHub; SMTP submission, SMTPS
    "verifier": {22, 443, 6443},  # git, the Kubernetes API server
    "gateway": set(),
}
# The dev overlay's local registry (overlays/dev/registry-port.yaml).
REGISTRY_PORT = {"dev": {"builder": {5000}, "scanner": {5000}}, "prod": {}}
DNS = {("kube-system/kube-dns", "UDP", 53), ("kube-system/kube-dns", "TCP", 53)}
REDIS = {("redis", "TCP", 6379)}
METADATA = (ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254"))
ANYWHERE = {"0.0.0.0/0", "::/0"}

Peer = tuple[str, str, int | str]


def selects(selector: Obj, labels: dict[str, str]) -> bool:
    if not selector.get("matchLabels", {}).items() <= labels.items():
        return False
    return all(labels.get(e["key"]) in e["values"] for e in selector.get("matchExpressions", []))


def pod_labels(objects: list[Obj], name: str) -> dict[str, str]:
    workloads = of_kind(objects, "Deployment") | of_kind(objects, "StatefulSet")
    return dict(workloads[name]["spec"]["template"]["metadata"]["labels"])


def rules(objects: list[Obj], labels: dict[str, str], direction: str) -> Iterator[Obj]:
    """Every ingress or egress rule of every policy that selects a pod with these labels."""
    policy_type = direction.capitalize()
    for policy in of_kind(objects, "NetworkPolicy").values():
        spec = policy["spec"]
        if policy_type in spec["policyTypes"] and selects(spec["podSelector"], labels):
            yield from spec.get(direction, [])


def peer_name(peer: Obj) -> str:
    if "ipBlock" in peer:
        cidr = peer["ipBlock"]["cidr"]
        return "outside" if cidr in ANYWHERE else cidr
    namespace = peer.get("namespaceSelector", {}).get("matchLabels", {})
    pods = peer.get("podSelector", {}).get("matchLabels", {})
    where = namespace.get("kubernetes.io/metadata.name", "")
    what = (
        pods.get("app.kubernetes.io/component")
        or pods.get("k8s-app")
        or pods.get("app.kubernetes.io/name", "")
    )
    if not namespace:
        return what  # a pod of this namespace
    return f"{where}/{what}" if what else where


def allowed(objects: list[Obj], labels: dict[str, str], direction: str) -> set[Peer]:
    """(peer, protocol, port) for everything the policies let through; "any" where a rule
    leaves peers or ports open."""
    result: set[Peer] = set()
    for rule in rules(objects, labels, direction):
        peers = rule.get("to" if direction == "egress" else "from") or [{"any": True}]
        ports = rule.get("ports") or [{"protocol": "any", "port": "any"}]
        for peer in peers:
            name = "any" if "any" in peer else peer_name(peer)
            result |= {(name, p.get("protocol", "TCP"), p["port"]) for p in ports}
    return result


def ip_blocks(objects: list[Obj]) -> Iterator[tuple[str, Obj, Obj]]:
    """(policy name, the rule, the ipBlock) for every ipBlock of every rule."""
    for name, policy in of_kind(objects, "NetworkPolicy").items():
        for direction, side in (("egress", "to"), ("ingress", "from")):
            for rule in policy["spec"].get(direction, []):
                for peer in rule.get(side, []):
                    if "ipBlock" in peer:
                        yield name, rule, peer["ipBlock"]


@pytest.mark.parametrize("stage", STAGES)
def test_each_stage_may_reach_exactly_the_ports_its_code_uses(
    overlay: str, objects: list[Obj], stage: str
) -> None:
    labels = pod_labels(objects, f"shipline-{stage}")
    assert labels["app.kubernetes.io/component"] == stage
    ports = OUTSIDE[stage] | REGISTRY_PORT[overlay].get(stage, set())
    expected = DNS | REDIS | {("outside", "TCP", port) for port in ports}
    assert allowed(objects, labels, "egress") == expected
    assert allowed(objects, labels, "ingress") == set(), f"{stage} serves nothing"
    # Its own policy, not one shared by every stage.
    [own] = [
        p
        for p in of_kind(objects, "NetworkPolicy").values()
        if p["spec"]["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/component")
        == stage
    ]
    assert own["metadata"]["name"] == f"shipline-{stage}"


def test_the_builder_may_reach_the_engine_its_docker_host_names(prod: list[Obj]) -> None:
    host = urlsplit(config_value(prod, "DOCKER_HOST"))
    assert host.scheme == "tcp" and host.port
    labels = pod_labels(prod, "shipline-builder")
    assert ("outside", "TCP", host.port) in allowed(prod, labels, "egress")


def test_the_gateway_calls_redis_alone_and_answers_the_ingress_controller_and_prometheus(
    objects: list[Obj],
) -> None:
    labels = pod_labels(objects, "shipline-gateway")
    assert allowed(objects, labels, "egress") == DNS | REDIS
    [port] = [
        p["containerPort"]
        for p in container(of_kind(objects, "Deployment")["shipline-gateway"])["ports"]
        if p["name"] == "http"
    ]  # the API, the webhooks and /metrics
    assert allowed(objects, labels, "ingress") == {
        ("ingress-nginx", "TCP", port),
        ("monitoring/prometheus", "TCP", port),
    }


def test_redis_answers_shiplines_pods_and_keda_only(objects: list[Obj]) -> None:
    labels = pod_labels(objects, "redis")
    assert allowed(objects, labels, "egress") == DNS
    [rule] = list(rules(objects, labels, "ingress"))
    [pods, keda] = rule["from"]
    components = {e["key"]: set(e["values"]) for e in pods["podSelector"]["matchExpressions"]}
    assert components["app.kubernetes.io/component"] == {*STAGES, "gateway"}
    assert keda == {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "keda"}}}
    assert rule["ports"] == [{"protocol": "TCP", "port": 6379}]


def test_no_policy_lets_a_pod_reach_the_cloud_metadata_service(objects: list[Obj]) -> None:
    blocks = list(ip_blocks(objects))
    assert blocks
    for name, _, block in blocks:
        network = ipaddress.ip_network(block["cidr"])
        excepted = [ipaddress.ip_network(cidr) for cidr in block.get("except", [])]
        for address in METADATA:
            if address.version == network.version and address in network:
                assert any(address in e for e in excepted), f"{name}: {block} reaches {address}"


def test_every_ipv4_rule_to_anywhere_has_an_ipv6_twin(objects: list[Obj]) -> None:
    twins = 0
    for name, rule, block in ip_blocks(objects):
        if block["cidr"] != "0.0.0.0/0":
            continue
        # the same rule (the same ports) also opens ::/0, without the metadata address
        v6 = [p["ipBlock"] for p in rule["to"] if p.get("ipBlock", {}).get("cidr") == "::/0"]
        assert v6 == [{"cidr": "::/0", "except": ["fd00:ec2::254/128"]}], name
        twins += 1
    assert twins >= len(STAGES)

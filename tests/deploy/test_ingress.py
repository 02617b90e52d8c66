"""What the Ingresses expose: webhooks and the token-guarded API on one, the dashboard's shell
(no data, an SSO proxy's place) on the other; probes and /metrics never."""

from __future__ import annotations

from typing import Any

from tests.deploy.manifests import of_kind
from tests.security.test_private_reads import PUBLIC

Obj = dict[str, Any]


def routed(ingress: Obj) -> dict[str, str]:
    return {
        path["path"]: path["pathType"]
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
        if path["backend"]["service"]["name"] == "shipline-gateway"
    }


def test_machines_reach_the_webhooks_and_the_api_and_people_the_dashboard(
    objects: list[Obj],
) -> None:
    ingresses = of_kind(objects, "Ingress")

    assert routed(ingresses["shipline-gateway"]) == {"/webhooks": "Prefix", "/api": "Prefix"}
    assert routed(ingresses["shipline-dashboard"]) == {
        "/": "Exact",
        "/ui": "Prefix",
        "/docs": "Prefix",
        "/openapi.json": "Exact",
    }
    hosts = {rule["host"] for ingress in ingresses.values() for rule in ingress["spec"]["rules"]}
    assert len(hosts) == 1  # one origin: the dashboard's fetches and streams go to /api


def test_the_dashboard_ingress_serves_only_what_holds_no_data(objects: list[Obj]) -> None:
    dashboard = routed(of_kind(objects, "Ingress")["shipline-dashboard"])

    for path, kind in dashboard.items():
        served = {p for p in PUBLIC if p == path or (kind == "Prefix" and p.startswith(path))}
        assert served, f"{path} routes nothing public"


def test_probes_and_metrics_stay_in_the_cluster(objects: list[Obj]) -> None:
    paths = [path for ingress in of_kind(objects, "Ingress").values() for path in routed(ingress)]

    for internal in ("/metrics", "/healthz", "/readyz"):
        assert not [p for p in paths if internal.startswith(p) and p != "/"], internal

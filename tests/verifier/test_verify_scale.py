"""A verification reads one field of its run, whatever the run's size: a 200-service release
verifies 200 commits, and reading the whole run for each made that quadratic. Through the
verifier's handler on the stand-in API server, the run store on the real Redis."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import redis

from services.common.cluster_settings import ArgoCDRefresh
from services.common.events import DeploymentVerified, Envelope
from services.common.runtime import Runtime
from tests.verifier.argo_controller import SimulatedArgoCD
from tests.verifier.test_argocd_refresh import (  # noqa: F401 - the fixtures, shared
    NEVER,
    argocd,
    committed,
    verifier,
)


def whole_hash_reads(client: redis.Redis) -> int:
    stats = client.info("commandstats")
    return int(stats.get("cmdstat_hgetall", {}).get("calls", 0))


def test_verifying_a_commit_of_a_large_run_reads_none_of_its_services(
    argocd: Callable[[float], SimulatedArgoCD],  # noqa: F811
    verifier: Callable[..., tuple[Runtime, Callable[[Envelope], Any]]],  # noqa: F811
    redis_client: redis.Redis,
) -> None:
    runtime, handle = verifier(ArgoCDRefresh(applications=["shop"]), argocd(NEVER))
    runtime.runs.plan("run-r", ["cart", *(f"svc-{index:03d}" for index in range(200))])
    event = committed()
    runtime.runs.apply(event)
    created_at = runtime.runs.created_at("run-r")
    before = whole_hash_reads(redis_client)

    (verdict,) = handle(event)

    assert isinstance(verdict, DeploymentVerified), verdict
    assert whole_hash_reads(redis_client) == before  # no service record read, nor the run's
    assert created_at is not None and 0 <= verdict.seconds < 30  # counted from the run's start

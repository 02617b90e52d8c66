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
from tests.verifier.commits import manifest_committed
from tests.verifier.conftest import NEVER


def whole_hash_reads(client: redis.Redis) -> int:
    stats = client.info("commandstats")
    return int(stats.get("cmdstat_hgetall", {}).get("calls", 0))


def test_verifying_a_commit_of_a_large_run_reads_none_of_its_services(
    argocd: Callable[[float], SimulatedArgoCD],
    verifier: Callable[..., tuple[Runtime, Callable[[Envelope], Any]]],
    redis_client: redis.Redis,
) -> None:
    runtime, handle = verifier(ArgoCDRefresh(applications=["shop"]), argocd(NEVER))
    runtime.runs.plan("run-r", ["cart", *(f"svc-{index:03d}" for index in range(200))])
    event = manifest_committed("run-r", repository="acme/app")
    runtime.runs.apply(event)
    created_at = runtime.runs.created_at("run-r")
    before = whole_hash_reads(redis_client)

    (verdict,) = handle(event)

    assert isinstance(verdict, DeploymentVerified), verdict
    assert whole_hash_reads(redis_client) == before  # no service record read, nor the run's
    assert created_at is not None and 0 <= verdict.seconds < 30  # counted from the run's start

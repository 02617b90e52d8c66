"""`approval: auto` behind a cluster, through the real stages: the committer (real git
remote), the verifier (the real `kubernetes` client against the stand-in API server of
tests/verifier/fake_apiserver.py) and the notifier, on a real Redis: staging's commit does
not promote, its failed rollout does not, its verified one promotes production."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from services.committer.promote import promote
from services.committer.task import STAGE as COMMITTER
from services.committer.task import Committer
from services.common.bus import queue_name, stages_for
from services.common.cluster_settings import ClusterSettings
from services.common.events import (
    DeploymentFailed,
    DeploymentVerified,
    Envelope,
    ManifestCommitted,
    PromotionRequested,
    decode_event,
)
from services.common.runtime import Runtime
from services.notifier.task import STAGE as NOTIFIER
from services.verifier.task import make_handler
from services.verifier.watches import Watches
from tests.committer.gitrepos import (
    REGISTRY,
    Repo,
    deployment,
    monorepo,
    scan_passed,
    scanned,
    settings_for,
    shipline_yaml,
)
from tests.verifier.fake_apiserver import FakeApiServer
from tests.verifier.objects import application, pod
from tests.verifier.objects import deployment as live_deployment

IMAGE = f"{REGISTRY}/cart"
ENVIRONMENTS = [
    {"name": "staging"},
    {"name": "production", "from": "staging", "approval": "auto"},
]


def overlay(environment: str) -> str:
    return f"k8s/overlays/{environment}/cart.yaml"


@pytest.fixture
def shop(tmp_path: Path) -> Repo:
    repo = monorepo(tmp_path / "remotes", ["cart"])
    spec = {"path": "cart/", "manifest": "k8s/overlays/{environment}/cart.yaml"}
    files = {
        overlay(env): deployment("cart", f"{IMAGE}:initial") for env in ("staging", "production")
    }
    files["shipline.yaml"] = shipline_yaml({"cart": spec}, environments=ENVIRONMENTS)
    repo.commit(files, "chore: staging, then production by itself")
    return repo


@pytest.fixture
def runtime(
    shop: Repo, tmp_path: Path, redis_url: str, redis_client: redis.Redis, cluster: ClusterSettings
) -> Runtime:
    return Runtime(settings_for(tmp_path / "w", shop, redis_url=redis_url, clusters=[cluster]))


def only(outputs: object) -> Envelope:
    assert isinstance(outputs, tuple | list) and len(outputs) == 1, outputs
    event = outputs[0]
    assert isinstance(event, Envelope)
    return event


def queued_for_committer(client: redis.Redis) -> list[Envelope]:
    events = []
    for raw in reversed(client.lrange(queue_name("committer"), 0, -1)):
        args, _, _ = json.loads(base64.b64decode(json.loads(raw)["body"]))
        events.append(decode_event(args[0]))
    return events


def test_staging_s_verified_rollout_promotes_production_and_a_failed_one_does_not(
    shop: Repo,
    runtime: Runtime,
    apiserver: FakeApiServer,
    cluster: ClusterSettings,
    start_watches: Callable[..., Watches],
    redis_client: redis.Redis,
) -> None:
    commit, notify = COMMITTER.factory(runtime), NOTIFIER.factory(runtime)
    assert isinstance(commit, Committer)
    verify = make_handler(runtime, start_watches(cluster))

    def deploy(run_id: str, line: str) -> ManifestCommitted:
        change = shop.commit({"cart/app.txt": line}, f"feat(cart): {line}")
        runtime.runs.create(run_id, trigger="push", repository=shop.name, commit=change)
        runtime.runs.plan(run_id, ["cart"])
        deployed = only(commit(scanned(runtime.redis, scan_passed(shop, "cart", change, run_id))))
        assert isinstance(deployed, ManifestCommitted)
        return deployed

    crashing = deploy("run-1", "v2\n")
    assert (crashing.cluster, crashing.manifest_path) == ("prod", overlay("staging"))
    assert stages_for(crashing) == ("verifier",)  # the commit alone lands nowhere yet
    bad = crashing.new_image
    apiserver.put("deployments", live_deployment("cart", bad, updated=1, ready=0, available=0))
    apiserver.put("pods", pod("cart-1", "cart", bad, waiting="CrashLoopBackOff", restarts=5))
    apiserver.put("applications", application("shop", ["cart"], revision=crashing.gitops_commit))
    failed = only(verify(crashing))
    assert isinstance(failed, DeploymentFailed)
    notify(failed)

    assert queued_for_committer(redis_client) == []
    assert f"image: {IMAGE}:initial" in shop.read(overlay("production"))

    healthy = deploy("run-2", "v3\n")
    apiserver.put("deployments", live_deployment("cart", healthy.new_image))
    apiserver.put("applications", application("shop", ["cart"], revision=healthy.gitops_commit))
    verified = only(verify(healthy))
    assert isinstance(verified, DeploymentVerified)
    assert verified.manifest_path == overlay("staging")
    assert (verified.gitops_repository, verified.branch) == (shop.name, "main")
    notify(verified)
    notify(verified)  # delivered twice

    [request] = queued_for_committer(redis_client)
    assert isinstance(request, PromotionRequested)
    assert (request.services, request.environment) == (("cart",), "production")
    assert request.requested_by == "shipline (auto-promotion)"
    assert "verified healthy in staging" in request.reason
    writer = commit.writer  # the committer's promotion, its registry admission left out
    promoted = only(promote(request, writer.targets, writer.commits))
    assert isinstance(promoted, ManifestCommitted)
    assert promoted.manifest_path == overlay("production")
    assert f"image: {healthy.new_image}" in shop.read(overlay("production"))
    run = runtime.runs.get(request.run_id)
    assert run is not None and run.trigger == "promotion"

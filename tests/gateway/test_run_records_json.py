"""The runs API answers with exactly what the run store's hashes hold, as it did before its
records were typed: each run below is recorded through the real store, event by event as the
workers record it, and its JSON is compared with the hashes read the old way
(tests/common/legacy_records.py) from the same Redis."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient

from services.common.events import (
    ChangeDetected,
    DeploymentFailed,
    DeploymentVerified,
    ImagePushed,
    ManifestCommitted,
    PushReceived,
    ReleaseReady,
    ScanBypass,
    ScanPassed,
    Source,
    StageFailed,
)
from services.common.run_records import FINAL_SERVICE_STATUSES
from services.common.runs import RunStore
from services.gateway.app import create_app
from tests.common.legacy_records import legacy_run
from tests.gateway.reader import READ_TOKEN, READER, shop_settings
from tests.gateway.runs_data import (
    DIGEST,
    REGISTRY,
    REPOSITORY,
    build_failed,
    built,
    deployed,
    source,
    started_run,
)

OLD, NEW = f"{REGISTRY}/cart:sha-1111111", f"{REGISTRY}/cart:sha-ccccccc"


@pytest.fixture
def runs(redis_client: redis.Redis) -> RunStore:
    return RunStore(redis_client)


@pytest.fixture
def client(redis_url: str, tmp_path) -> Iterator[TestClient]:
    settings = shop_settings(redis_url, tmp_path, api_tokens=[READ_TOKEN])
    with TestClient(create_app(settings), headers=READER) as test_client:
        yield test_client


def as_stored(redis_client: redis.Redis, run_id: str) -> dict[str, Any]:
    """The run as the store read it before its records were typed, from the same keys."""

    def fields(key: str) -> dict[str, str]:
        return {k.decode(): v.decode() for k, v in redis_client.hgetall(key).items()}

    key = f"shipline:run:{run_id}"
    names = [m.decode() for m in redis_client.smembers(f"{key}:services")]
    return legacy_run(fields(key), {name: fields(f"{key}:svc:{name}") for name in names})


def timeline(run: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The timeline as the API built it from the untyped record."""
    out = {}
    for name, service in run["services"].items():
        ended = service.get("stage") if service.get("status") in FINAL_SERVICE_STATUSES else None
        out[name] = [
            {
                "stage": stage,
                "state": service["status"]
                if stage == ended
                else ("done" if "finished" in marks else "running"),
                "started": marks.get("started"),
                "finished": marks.get("finished"),
                "seconds": marks.get("seconds"),
            }
            for stage, marks in service["timings"].items()
        ]
    return out


# --- runs as the workers record them -----------------------------------------------------------


def a_deployed_and_notified_push(runs: RunStore) -> None:
    started_run(runs, "deployed", ["cart"])
    deployed(runs, "deployed", "cart")
    runs.mark_notified("deployed")


def a_failed_build_beside_a_deploy(runs: RunStore) -> None:
    started_run(runs, "half", ["cart", "payments"])
    deployed(runs, "half", "payments")
    build_failed(runs, "half", "cart")


def a_release_of_an_annotated_tag(runs: RunStore) -> None:
    tag = Source(repository=REPOSITORY, commit="c" * 40, ref="refs/tags/v1.2.0")
    runs.create("release", trigger="tag", provider="github", repository=REPOSITORY, commit="")
    runs.stage_started("release", None, "detector")
    runs.peeled("release", "c" * 40, tag_object="f" * 40)
    runs.plan("release", ["cart"])
    runs.apply(
        ChangeDetected(
            run_id="release",
            service="cart",
            source=tag,
            context="cart/",
            dockerfile="Dockerfile",
            image_repository=f"{REGISTRY}/cart",
            tags=("v1.2.0",),
            reason="release",
        )
    )
    pushed = built(runs, "release", "cart")
    ready = runs.apply(ScanPassed(**_image(pushed), counts={"HIGH": 2, "LOW": 1}, policy="default"))
    assert isinstance(ready, ReleaseReady)
    runs.keep_release_notes("release", "## v1.2.0\n- **cart:** coupons")


def a_deploy_verified_in_a_cluster(runs: RunStore) -> None:
    started_run(runs, "verified", ["cart"])
    pushed = built(runs, "verified", "cart")
    runs.apply(ScanPassed(**_image(pushed), counts={}, policy="default"))
    runs.apply(_committed("verified", cluster="prod"))
    runs.apply(_verdict(DeploymentVerified, "verified", seconds=71.3, workload="Deployment a/c"))


def a_failed_rollout_rolled_back(runs: RunStore) -> None:
    started_run(runs, "rolled-back", ["cart"])
    runs.apply(_committed("rolled-back", cluster="prod", auto_rollback=True))
    failed = _verdict(
        DeploymentFailed, "rolled-back", condition="Degraded", reason="Degraded", auto_rollback=True
    )
    runs.apply(failed)
    rollback = _committed("rolled-back", cluster="prod", kind="rollback", rollback_of="Degraded")
    runs.apply(rollback.model_copy(update={"old_image": NEW, "new_image": OLD}))
    runs.apply(_verdict(DeploymentVerified, "rolled-back", seconds=1.0, rollback_of="Degraded"))


def a_manual_deploy_past_the_scan_gate(runs: RunStore) -> None:
    runs.create("bypass", trigger="deploy", provider="manual", repository=REPOSITORY, pusher="dana")
    runs.plan("bypass", ["cart"])
    pushed = built(runs, "bypass", "cart")
    bypass = ScanBypass(by="dana", reason="fix for CVE-1, scanner down")
    runs.apply(ScanPassed(**_image(pushed), counts={}, policy="default", skipped=bypass))


def a_push_that_changed_no_service(runs: RunStore) -> None:
    runs.create("empty", trigger="push", repository=REPOSITORY, commit="c" * 40)
    push = PushReceived(
        run_id="empty",
        provider="github",
        delivery_id="d-9",
        repository=REPOSITORY,
        ref="refs/heads/main",
        before="a" * 40,
        after="c" * 40,
    )
    runs.apply(push)
    runs.apply(runs.finish_empty(push, "only docs changed"))


def a_detector_that_failed_the_whole_run(runs: RunStore) -> None:
    runs.create("broken", trigger="forced", repository=REPOSITORY, services="cart,payments")
    runs.stage_started("broken", None, "detector")
    failure = StageFailed(
        run_id="broken", stage="detector", error_class="PermanentError", message="no such ref"
    )
    runs.apply(failure)


def hand_published_events_for_a_run_no_trigger_recorded(runs: RunStore) -> None:
    runs.stage_started("by-hand", None, "builder")
    runs.stage_started("by-hand", "cart", "builder")
    runs.apply(ImagePushed(**_image_fields("by-hand"), digest=DIGEST, cached=True))


SCENARIOS: dict[str, Callable[[RunStore], None]] = {
    "deployed": a_deployed_and_notified_push,
    "half": a_failed_build_beside_a_deploy,
    "release": a_release_of_an_annotated_tag,
    "verified": a_deploy_verified_in_a_cluster,
    "rolled-back": a_failed_rollout_rolled_back,
    "bypass": a_manual_deploy_past_the_scan_gate,
    "empty": a_push_that_changed_no_service,
    "broken": a_detector_that_failed_the_whole_run,
    "by-hand": hand_published_events_for_a_run_no_trigger_recorded,
}


@pytest.mark.parametrize("run_id", list(SCENARIOS))
def test_a_run_is_answered_with_exactly_the_fields_its_hashes_hold(
    client: TestClient, runs: RunStore, redis_client: redis.Redis, run_id: str
) -> None:
    SCENARIOS[run_id](runs)
    stored = as_stored(redis_client, run_id)

    response = client.get(f"/api/v1/runs/{run_id}")

    assert response.status_code == 200, response.text
    assert response.json() == {**stored, "timeline": timeline(stored)}


def test_the_run_list_answers_every_run_with_exactly_the_fields_its_hashes_hold(
    client: TestClient, runs: RunStore, redis_client: redis.Redis
) -> None:
    for record in SCENARIOS.values():
        record(runs)

    response = client.get("/api/v1/runs", params={"limit": 500})

    assert response.status_code == 200, response.text
    listed = response.json()
    assert listed["next_cursor"] is None
    indexed = [r for r in SCENARIOS if r != "by-hand"]  # only a trigger indexes a run
    assert sorted(run["run_id"] for run in listed["runs"]) == sorted(indexed)
    for run in listed["runs"]:
        assert run == as_stored(redis_client, run["run_id"])


def test_the_openapi_page_describes_a_run_and_its_services(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()

    answer = spec["paths"]["/api/v1/runs/{run_id}"]["get"]["responses"]["200"]
    assert answer["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/RunDetail"
    }
    schemas = spec["components"]["schemas"]
    assert {"run_id", "status", "services", "timeline", "detector.started"} <= set(
        schemas["RunDetail"]["properties"]
    )
    assert {"status", "image", "digest", "timings"} <= set(schemas["ServiceRecord"]["properties"])


def _image_fields(run_id: str) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "service": "cart",
        "source": source(),
        "image_repository": f"{REGISTRY}/cart",
        "tags": ("sha-ccccccc",),
    }


def _image(pushed: ImagePushed) -> dict[str, Any]:
    return {**_image_fields(pushed.run_id), "digest": pushed.digest, "tags": pushed.tags}


def _committed(run_id: str, **fields: Any) -> ManifestCommitted:
    return ManifestCommitted(
        run_id=run_id,
        service="cart",
        source=source(),
        manifest_path="k8s/cart.yaml",
        old_image=OLD,
        new_image=NEW,
        gitops_repository=REPOSITORY,
        gitops_commit="d" * 40,
        branch="main",
        **fields,
    )


def _verdict(kind: type, run_id: str, **fields: Any) -> Any:
    base = {"run_id": run_id, "service": "cart", "source": source(), "image": NEW}
    return kind(**base, old_image=OLD, cluster="prod", gitops_commit="d" * 40, **fields)

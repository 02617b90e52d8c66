"""The keyspace: every Redis key under one namespace, the default one byte-identical to the
keys Shipline always wrote (existing deployments keep their data)."""

from __future__ import annotations

import asyncio
import os
import uuid
from hashlib import sha256
from pathlib import Path

import pytest
import redis

from services.builder.coordination import Coordinator
from services.common import manual_events
from services.common.bus import queue_name
from services.common.errors import ConfigError
from services.common.events import ImagePushed, PushReceived, Source, encode_event
from services.common.keyspace import DEFAULT_KEYSPACE, DEFAULT_NAMESPACE, Keyspace
from services.common.runtime import Runtime
from services.common.scan_verdicts import ScanVerdict
from services.common.service_inventory import Survey
from services.common.settings import Settings, load_settings
from services.common.stage import StageDefinition, StageRunner
from services.detector.checked import RedisCheckedCommits
from services.gateway.intake import Intake
from services.notifier.delivery import RedisMarkers
from services.notifier.routing import sent_key
from services.verifier.live import LiveStore
from services.verifier.rollout import Snapshot
from tests.verifier.objects import application, deployment

EVENT = uuid.UUID("00000000-0000-4000-8000-000000000001")


def every_key(keys: Keyspace) -> dict[str, str]:
    """One key of every kind, by the name of the function that builds it."""
    return {
        "runs_index": keys.runs_index,
        "run": keys.run("r1"),
        "run_service": keys.run_service("r1", "api"),
        "run_services": keys.run_services("r1"),
        "run_finished": keys.run_finished("r1"),
        "run_scanned": keys.run_scanned("r1"),
        "events": keys.events,
        "run_events": keys.run_events("r1"),
        "event_logged": keys.event_logged(EVENT),
        "delivery": keys.delivery("github", "d-1"),
        "push_update": keys.push_update("acme/shop", "refs/heads/main"),
        "hand_run": keys.hand_run("r1"),
        "stage_claim": keys.stage_claim("builder", EVENT),
        "stage_done": keys.stage_done("builder", EVENT),
        "dead_letters": keys.dead_letters,
        "dead_letter": keys.dead_letter("builder-0123456789abcdef"),
        "pin": keys.pin("acme/shop", "cart"),
        "inventory": keys.inventory("acme/shop"),
        "scan_verdict": keys.scan_verdict("reg/cart", "sha256:ab"),
        "project_checked": keys.project_checked("acme/shop", "c0ffee"),
        "newest_build": keys.newest_build("acme/shop", "refs/heads/main", "cart"),
        "deployed_commits": keys.deployed_commits("acme/gitops", "main"),
        "sent_builds": keys.sent_builds("acme/shop", "refs/heads/main"),
        "build_lease": keys.build_lease("reg/cart", "c0ffee"),
        "last_tag": keys.last_tag("reg/cart", "refs/heads/main"),
        "gitops_lock": keys.gitops_lock("gitops", "main"),
        "run_notified": keys.run_notified("r1", "slack-0", "succeeded"),
        "event_sent": keys.event_sent(EVENT, "webhook-0"),
        "live": keys.live("prod"),
    }


def test_the_default_keys_are_the_ones_shipline_always_wrote() -> None:
    ref = sha256(b"acme/shop\x00refs/heads/main").hexdigest()
    assert every_key(DEFAULT_KEYSPACE) == {
        "runs_index": "shipline:runs",
        "run": "shipline:run:r1",
        "run_service": "shipline:run:r1:svc:api",
        "run_services": "shipline:run:r1:services",
        "run_finished": "shipline:run:r1:finished",
        "run_scanned": "shipline:run:r1:scanned",
        "events": "shipline:events",
        "run_events": "shipline:run:r1:events",
        "event_logged": f"shipline:logged:{EVENT}",
        "delivery": "shipline:delivery:github:d-1",
        "push_update": f"shipline:push:{ref}",
        "hand_run": "shipline:hand-run:r1",
        "stage_claim": f"shipline:claim:builder:{EVENT}",
        "stage_done": f"shipline:done:builder:{EVENT}",
        "dead_letters": "shipline:dead-letters",
        "dead_letter": "shipline:dead-letter:builder-0123456789abcdef",
        "pin": "shipline:pin:acme/shop:cart",
        "inventory": "shipline:inventory:acme/shop",
        "scan_verdict": "shipline:scan-verdict:reg/cart@sha256:ab",
        "project_checked": "shipline:project-checked:acme/shop:c0ffee",
        "newest_build": "shipline:builder:newest:acme/shop:refs/heads/main:cart",
        "deployed_commits": "shipline:detector:deployed:acme/gitops:main",
        "sent_builds": "shipline:detector:sent:acme/shop:refs/heads/main",
        "build_lease": "shipline:builder:lease:reg/cart:c0ffee",
        "last_tag": "shipline:builder:last:reg/cart:refs/heads/main",
        "gitops_lock": "shipline:lock:gitops:gitops:main",
        "run_notified": "shipline:notified:r1:slack-0:succeeded",
        "event_sent": f"shipline:sent:{EVENT}:webhook-0",
        "live": "shipline:live:prod",
    }


def test_another_namespace_puts_every_key_under_it() -> None:
    keys = Keyspace("team-a.shipline")
    outside = [key for key in every_key(keys).values() if not key.startswith("team-a.shipline:")]
    assert outside == []
    assert keys.pins_pattern == "team-a.shipline:pin:*"
    assert keys.pattern == "team-a.shipline:*"


@pytest.mark.parametrize("namespace", ["", "a:b", "ship*", "ship?", "[x]", "-x", "a" * 64])
def test_a_namespace_that_could_leak_into_another_is_refused(namespace: str) -> None:
    with pytest.raises(ValueError, match="namespace"):
        Keyspace(namespace)


# --- on a real Redis: the stores keep to the namespace ---------------------------------------

NAMESPACE = "team-a"


def push(run_id: str, delivery: str) -> PushReceived:
    return PushReceived(
        run_id=run_id,
        provider="github",
        delivery_id=delivery,
        repository="acme/shop",
        ref="refs/heads/main",
        before="a" * 40,
        after="b" * 40,
    )


@pytest.fixture
def runtime(redis_url: str, redis_client: redis.Redis, tmp_path: Path) -> Runtime:
    return Runtime(Settings(redis_url=redis_url, workdir=tmp_path, redis_namespace=NAMESPACE))


def start_run(runtime: Runtime, trigger: PushReceived) -> None:
    async def started() -> None:
        intake = Intake(runtime)
        try:
            await intake.start_run(
                trigger, ("github", trigger.delivery_id), "push", replayable=True
            )
        finally:
            await intake.aclose()

    asyncio.run(started())


def image_pushed(run_id: str) -> ImagePushed:
    source = Source(repository="acme/shop", commit="b" * 40, ref="refs/heads/main")
    return ImagePushed(
        run_id=run_id, service="cart", source=source, image_repository="reg/cart",
        tags=("main-bbbbbbb",), digest="sha256:" + "ab" * 32,
    )  # fmt: skip


def handle_one_event(runtime: Runtime, event: ImagePushed) -> None:
    """The stage runner's claim and done markers, and the run store's service records."""
    scanner = StageDefinition("scanner", (ImagePushed,), lambda _: lambda _event: ())
    StageRunner(scanner, runtime).process(encode_event(event))


def keep_one_of_everything(runtime: Runtime) -> None:
    keys, client = runtime.keyspace, runtime.redis
    start_run(runtime, push("run-1", "delivery-1"))
    runtime.runs.plan("run-1", ["cart"])
    handle_one_event(runtime, image_pushed("run-1"))
    runtime.runs.mark_notified("run-1")
    runtime.event_log.append(push("run-2", "delivery-2"))
    runtime.dead_letters.add(
        stage="builder", cause="undecodable", error_class="E", message="m", attempts=1, payload="x"
    )
    runtime.pins.pin("acme/shop", "cart", "reg/cart:v1", "ops", "run-1")
    runtime.inventory.record(Survey(repository="acme/shop", commit="b" * 40))
    verdict = {"image_repository": "reg/cart", "digest": "sha256:ab", "service": "cart"}
    runtime.scan_verdicts.record(ScanVerdict(**verdict, outcome="passed", run_id="run-1"))
    assert manual_events.claim_run(client, keys, "hand-1", uuid.uuid4(), run_exists=False)
    RedisCheckedCommits(client, keys=keys).mark_clean("acme/shop", "b" * 40, "v1")
    builds = Coordinator(client, keys=keys)
    builds.remember_tag("reg/cart", "refs/heads/main", "main-bbbbbbb")
    with builds.lease("reg/cart", "b" * 40, wait=1):
        assert client.exists(keys.build_lease("reg/cart", "b" * 40))
    cart = deployment("cart", "reg/cart:v1", ready=1, available=1)
    LiveStore(client, keys=keys).save("prod", Snapshot([cart], [], [application("shop", ["cart"])]))
    RedisMarkers(client).mark(sent_key(push("run-1", "d"), "log-0", keys), "sent")


def test_with_another_namespace_the_stores_write_no_key_outside_it(
    runtime: Runtime, redis_client: redis.Redis
) -> None:
    keep_one_of_everything(runtime)

    written = sorted(key.decode() for key in redis_client.scan_iter(count=1000))
    celery_queue = queue_name("detector")  # Celery's, named the same in every namespace
    outside = [key for key in written if not key.startswith(f"{NAMESPACE}:")]
    assert outside == [celery_queue]
    assert len(written) >= 15
    run = runtime.runs.get("run-1")  # started by the intake, read by the run store
    assert run is not None and run.services["cart"].stage == "scanner"
    assert [run.run_id for run in runtime.runs.list()] == ["run-1"]
    assert runtime.pins.all()[0].image == "reg/cart:v1"
    assert runtime.event_log.for_run("run-1")[0][1]["run_id"] == "run-1"
    assert runtime.dead_letters.count() == 1


def test_the_default_namespace_reads_what_the_namespaced_stores_did_not_write(
    runtime: Runtime, redis_client: redis.Redis
) -> None:
    keep_one_of_everything(runtime)

    default = Runtime(runtime.settings.model_copy(update={"redis_namespace": DEFAULT_NAMESPACE}))
    assert default.runs.list() == []
    assert default.pins.all() == []
    assert default.dead_letters.count() == 0
    assert default.event_log.for_run("run-1") == []
    assert default.inventory.read("acme/shop") is None


def test_the_namespace_is_a_setting_and_one_with_a_colon_is_refused_at_start(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in [name for name in os.environ if name.startswith("SHIPLINE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("SHIPLINE_WORKDIR", str(tmp_path))
    assert Runtime(load_settings()).keyspace.run("r1") == "shipline:run:r1"

    monkeypatch.setenv("SHIPLINE_REDIS_NAMESPACE", "team-a")
    assert Runtime(load_settings()).keyspace.run("r1") == "team-a:run:r1"

    monkeypatch.setenv("SHIPLINE_REDIS_NAMESPACE", "team:a")
    with pytest.raises(ConfigError, match="redis_namespace"):
        load_settings()

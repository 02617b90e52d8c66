"""The sweep from git on a real Redis, the real bus and a real git repository: a service
behind its branch that Redis has no build of (as after a data loss) is built at the head
once two sweeps saw it so, in one run of its own; one Redis accounts for, a pinned one, one
whose content is what it runs and one never deployed are left alone. No worker runs: what
the sweep published stays queued for the test to read."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from services.committer.messages import DEPLOYED
from services.committer.pins_file import PINS_FILE, render_pins
from services.common.bus import queue_name
from services.common.pins import Pin
from services.common.runtime import Runtime
from services.demo.scenario import SampleMonorepo
from services.reconciler.background import build_sweeper
from services.reconciler.sweep import Sweeper
from tests.deploy_outcomes import runs_of_trigger
from tests.reconciler.conftest import Clock, runtime_on
from tests.reconciler.test_reconcile import declare_queues

MAIN = "refs/heads/main"
SWEEP, GRACE = 300, 30  # sweep_seconds; the default period (30 s) is the grace


@pytest.fixture
def runtime(
    redis_url: str, redis_client: redis.Redis, tmp_path: Path, sample: SampleMonorepo
) -> Iterator[Runtime]:
    with runtime_on(redis_url, tmp_path / "state", sample, sweep_seconds=SWEEP) as runtime:
        yield runtime


def sweeper_of(runtime: Runtime, clock: Clock) -> Sweeper:
    sweeper = build_sweeper(runtime, runtime.redis, runtime.celery)
    sweeper._clock = clock  # noqa: SLF001 - the sweep's schedule is tested on a clock the test moves
    return sweeper


def deployed_at_head(sample: SampleMonorepo, services: list[str]) -> str:
    """The committer's deploy commit (the gitops branch is the sample's main) naming each of
    `services` as deployed from the current head; that head."""
    head = sample.remote_head().hexsha
    trailers = "\n".join(f"{DEPLOYED}: {s} {sample.name}@{head}" for s in services)
    sample.change("k8s/deployed.txt", head, f"deploy {', '.join(services)}\n\n{trailers}")
    return head


def test_a_service_behind_that_redis_forgot_is_built_at_the_head_after_a_second_sighting(
    runtime: Runtime, sample: SampleMonorepo, clock: Clock
) -> None:
    deployed_at_head(sample, ["user-service", "account-service"])
    sample.append("user_service/app.txt", "v2", "feat(user): v2")
    head = sample.remote_head().hexsha
    sweeper = sweeper_of(runtime, clock)

    first = sweeper.pass_once()
    assert first.swept == [sample.name] and first.started == []
    assert first.pending == {sample.name: ("user-service",)}  # account-service: same content
    clock.now += GRACE - 1
    assert sweeper.pass_once().swept == []  # not before the grace

    clock.now += 1
    [built] = sweeper.pass_once().started
    assert (built.services, built.commit) == (("user-service",), head)
    assert runtime.redis.llen(queue_name("detector")) == 1
    sent = runtime.redis.hget(runtime.keyspace.sent_builds(sample.name, MAIN), "user-service")
    assert sent is not None and sent.decode() == built.run_id
    assert [r.run_id for r in runs_of_trigger(runtime, "converge")] == [built.run_id]

    # From now on the run accounts for it: swept again after the period, never built twice.
    clock.now += SWEEP
    again = sweeper.pass_once()
    assert again.swept == [sample.name] and again.pending == {} and again.started == []

    # Redis loses everything, the build's message with it: swept at once, built again.
    runtime.redis.flushall()
    declare_queues(runtime)
    assert sweeper.pass_once().pending == {sample.name: ("user-service",)}
    clock.now += GRACE
    [rebuilt] = sweeper.pass_once().started
    assert rebuilt.services == ("user-service",) and rebuilt.commit == head
    assert runtime.redis.llen(queue_name("detector")) == 1


def test_a_pinned_a_never_deployed_and_an_accounted_for_service_are_never_swept(
    runtime: Runtime, sample: SampleMonorepo, clock: Clock
) -> None:
    deployed_at_head(sample, ["user-service", "account-service", "transaction-service"])
    for directory in ("user_service", "account_service", "transaction_service", "frontend"):
        sample.append(f"{directory}/app.txt", "v2", f"feat: {directory} v2")
    pin = Pin(sample.name, "user-service", "registry.local/u:1", "ops", "rb-1", 0.0)
    sample.change(PINS_FILE, render_pins([pin]), "pin user-service")
    # a push sent account-service to build (under way or failed: its owners' business)
    runtime.redis.hset(runtime.keyspace.sent_builds(sample.name, MAIN), "account-service", "p-1")
    sweeper = sweeper_of(runtime, clock)

    assert sweeper.pass_once().pending == {sample.name: ("transaction-service",)}
    clock.now += GRACE
    [built] = sweeper.pass_once().started
    assert built.services == ("transaction-service",)
    for _ in range(2):
        clock.now += SWEEP
        report = sweeper.pass_once()
        assert report.swept == [sample.name]
        assert (report.pending, report.started) == ({}, [])
    assert [r.run_id for r in runs_of_trigger(runtime, "converge")] == [built.run_id]


def test_with_sweep_seconds_zero_nothing_is_swept(
    runtime: Runtime, sample: SampleMonorepo, clock: Clock
) -> None:
    options = runtime.settings.reconciler.model_copy(update={"sweep_seconds": 0})
    settings = runtime.settings.model_copy(update={"reconciler": options})
    deployed_at_head(sample, ["user-service"])
    sample.append("user_service/app.txt", "v2", "feat(user): v2")
    off = sweeper_of(Runtime(settings), clock)
    for _ in range(2):
        assert off.pass_once().swept == []
        clock.now += SWEEP
    assert runtime.redis.get(runtime.keyspace.reconciler_sweep(sample.name)) is None

"""A retry pass on a real Redis, the real bus and a real git repository: a build failed on an
outage is started again once its backoff has passed, in one run per repository and pass,
at most `retries_per_pass` services, never again while that retry is on its way; a build
failed for good and a pinned service are never started. No worker runs: what the pass
published stays queued for the test to read."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import git
import pytest
import redis

from services.committer.pins_file import PINS_FILE, render_pins
from services.common.bus import queue_name
from services.common.keyspace import Keyspace
from services.common.pins import Pin
from services.common.runtime import Runtime
from services.common.settings import GitopsRepository
from services.demo.scenario import SampleMonorepo
from services.reconciler.background import build_retrier
from services.reconciler.converge_state import ConvergeState
from services.reconciler.retry import Retrier
from tests.reconciler.conftest import Clock, runtime_on

MAIN = "refs/heads/main"
GAVE_UP = "registry unreachable (gave up after 4 attempts over 300 s)"


@pytest.fixture
def runtime(
    redis_url: str, redis_client: redis.Redis, tmp_path: Path, sample: SampleMonorepo
) -> Iterator[Runtime]:
    with runtime_on(
        redis_url, tmp_path / "state", sample, retry_first_seconds=60, retries_per_pass=2
    ) as runtime:
        yield runtime


@pytest.fixture
def retrier(runtime: Runtime, clock: Clock) -> Iterator[Retrier]:
    retrier = build_retrier(runtime, runtime.redis, runtime.celery)
    retrier._clock = clock  # noqa: SLF001 - the backoff is tested on a clock the test moves
    yield retrier


def failed_in(runtime: Runtime, sample: SampleMonorepo, run_id: str, why: dict[str, str]) -> None:
    """The detector sent each service of `why` to build in `run_id`, which failed saying why."""
    keys = runtime.keyspace
    runtime.redis.hset(keys.sent_builds(sample.name, MAIN), mapping=dict.fromkeys(why, run_id))
    for service, reason in why.items():
        runtime.redis.hset(
            keys.run_service(run_id, service), mapping={"status": "failed", "reason": reason}
        )


def retry_runs(runtime: Runtime) -> list[str]:
    ids = runtime.redis.zrange(runtime.keyspace.runs_index, 0, -1)
    return [i.decode() for i in ids if runtime.runs.get(i.decode()).trigger == "retry"]


def test_builds_failed_on_an_outage_are_retried_after_the_backoff_a_few_per_pass_never_twice(
    runtime: Runtime, sample: SampleMonorepo, retrier: Retrier, clock: Clock
) -> None:
    outage = dict.fromkeys(["account-service", "frontend", "user-service"], GAVE_UP)
    failed_in(runtime, sample, "push-1", outage)

    assert retrier.pass_once().started == []  # seen: the backoff starts
    clock.now += 59
    assert retrier.pass_once().started == []
    clock.now += 1
    first = retrier.pass_once()
    second = retrier.pass_once()
    third = retrier.pass_once()

    assert [len(r.services) for r in first.started] == [2]
    assert [len(r.services) for r in second.started] == [1]
    assert third.started == []
    started = {s for report in (first, second) for r in report.started for s in r.services}
    assert started == set(outage)
    head = sample.remote_head().hexsha
    assert {r.commit for report in (first, second) for r in report.started} == {head}
    assert len(retry_runs(runtime)) == 2
    assert runtime.redis.llen(queue_name("detector")) == 2
    sent = runtime.redis.hgetall(runtime.keyspace.sent_builds(sample.name, MAIN))
    assert {v.decode() for v in sent.values()} == {r.run_id for r in first.started + second.started}
    clock.now += 100  # the retries never reached the detector: retried after 120 s, not before
    assert retrier.pass_once().started == []
    clock.now += 30
    assert [len(r.services) for r in retrier.pass_once().started] == [2]


def pin_in_git(sample: SampleMonorepo, service: str) -> None:
    """The rollback's pin, as the committer writes it into the gitops branch (here main)."""
    pin = Pin(sample.name, service, "registry.local/u:1", "ops", "rb-1", 0.0)
    sample.change(PINS_FILE, render_pins([pin]), f"pin {service}")


def test_a_build_failed_for_good_and_a_pinned_service_are_never_retried(
    runtime: Runtime, sample: SampleMonorepo, retrier: Retrier, clock: Clock
) -> None:
    failed_in(runtime, sample, "push-1", {"account-service": "Dockerfile: RUN exit 3"})
    failed_in(runtime, sample, "push-1", {"user-service": GAVE_UP})
    pin_in_git(sample, "user-service")
    assert runtime.pins.get(sample.name, "user-service") is None  # Redis's cache is empty
    store = ConvergeState(runtime.redis, keys=runtime.keyspace)

    for _ in range(3):
        report = retrier.pass_once()
        assert report.started == []
        clock.now += 600

    assert retry_runs(runtime) == []
    assert runtime.redis.llen(queue_name("detector")) == 0
    assert store.get(sample.name, "account-service") is None
    state = store.get(sample.name, "user-service")
    assert state is not None and state.settled == "pinned" and state.retry_at is None


def test_with_retry_failed_off_a_build_failed_on_an_outage_waits_for_a_push(
    runtime: Runtime, sample: SampleMonorepo
) -> None:
    options = runtime.settings.reconciler.model_copy(update={"retry_failed": False})
    settings = runtime.settings.model_copy(update={"reconciler": options})
    off = build_retrier(Runtime(settings), runtime.redis, runtime.celery)
    failed_in(runtime, sample, "push-1", {"user-service": GAVE_UP})
    assert off.pass_once().due == 0
    assert ConvergeState(runtime.redis, keys=Keyspace()).get(sample.name, "user-service") is None


def test_a_retry_whose_run_failed_for_good_before_building_is_not_retried_again(
    runtime: Runtime, sample: SampleMonorepo, retrier: Retrier, clock: Clock
) -> None:
    failed_in(runtime, sample, "push-1", {"user-service": GAVE_UP, "frontend": GAVE_UP})
    retrier.pass_once()
    clock.now += 60
    [retry] = retrier.pass_once().started
    failure = "detector: ConfigError: shipline.yaml: services.frontend.path: missing"
    runtime.redis.hset(
        runtime.keyspace.run(retry.run_id), mapping={"status": "failed", "failure": failure}
    )
    store = ConvergeState(runtime.redis, keys=runtime.keyspace)

    for _ in range(3):
        assert retrier.pass_once().started == []
        clock.now += 3600

    assert store.get(sample.name, "user-service") is None
    assert store.get(sample.name, "frontend") is None
    assert len(retry_runs(runtime)) == 1


def test_a_retry_waits_while_the_gitops_branch_holding_the_pins_cannot_be_read(
    runtime: Runtime, sample: SampleMonorepo, clock: Clock, tmp_path: Path
) -> None:
    gitops = tmp_path / "gitops.git"
    git.Repo.init(gitops, bare=True)
    elsewhere_repo = GitopsRepository(name="acme/gitops", url=gitops.as_uri())
    settings = runtime.settings.model_copy(update={"gitops_repositories": [elsewhere_repo]})
    retrier = build_retrier(Runtime(settings), runtime.redis, runtime.celery)
    retrier._clock = clock  # noqa: SLF001 - the backoff is tested on a clock the test moves
    yaml_text = sample.remote_file("shipline.yaml")
    elsewhere = yaml_text.replace("gitops:", "gitops:\n  repository: acme/gitops", 1)
    sample.change("shipline.yaml", elsewhere, "manifests in acme/gitops")
    failed_in(runtime, sample, "push-1", {"user-service": GAVE_UP})
    retrier.pass_once()
    clock.now += 60
    shutil.rmtree(gitops)  # unreachable: its pins unknown

    waiting = retrier.pass_once()
    assert waiting.started == [] and waiting.settled == {}
    assert retry_runs(runtime) == []

    git.Repo.init(gitops, bare=True)  # back, holding no pin
    [retry] = retrier.pass_once().started
    assert retry.services == ("user-service",)

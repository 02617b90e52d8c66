"""A push to the default branch judged on what each service runs: the detector's handler on a
real monorepo whose gitops branch (here the same repository's main) carries the committer's
trailers, with the run store, pins and records in a real Redis."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import redis

from services.committer.pins_file import PINS_FILE, render_pins
from services.common.events import (
    ChangeDetected,
    DeploymentSkipped,
    PushReceived,
    RunCompleted,
    Source,
    StageFailed,
)
from services.common.pins import Pin
from services.common.runtime import Runtime
from services.common.settings import Settings
from services.detector.against_deployed import against_deployed
from services.detector.attempts import SentBuilds
from services.detector.deployed import DeployedFrom, DeployedState
from services.detector.task import ALL_DEPLOYED, make_handler
from tests.detector.conftest import BOT, NAME, SERVICES, Monorepo
from tests.detector.test_deployed import deploy


@pytest.fixture
def runtime(seeded: Monorepo, redis_url: str, redis_client: redis.Redis, tmp_path: Path):
    settings = Settings(
        redis_url=redis_url, workdir=tmp_path / "state", repositories=[seeded.settings]
    )
    return Runtime(settings)


@pytest.fixture
def deployed(seeded: Monorepo) -> str:
    """Every service deployed from the first commit, as the committer records it."""
    first = seeded.repo.head.commit.hexsha
    for service in SERVICES:
        deploy(seeded, service, first)
    return first


def built(runtime: Runtime, push: PushReceived) -> dict[str, ChangeDetected]:
    outputs = make_handler(runtime)(push)
    return {e.service: e for e in outputs if isinstance(e, ChangeDetected)}


def failed(runtime: Runtime, push: PushReceived, service: str, transient: bool) -> None:
    """The service's build of `push` failed, as the stage runner reports it."""
    message = "registry unreachable"
    if transient:
        message += " (gave up after 5 attempts over 2m; once it is back: `shipline ...`)"
    runtime.runs.apply(
        StageFailed(
            run_id=push.run_id,
            stage="builder",
            service=service,
            error_class="TransientError" if transient else "PermanentError",
            message=message,
            retryable=transient,
        )
    )


def test_a_force_push_dropping_a_skip_ci_commit_rebuilds_only_the_service_that_differs(
    seeded, runtime, deployed
):
    base = seeded.repo.head.commit.hexsha
    seeded.commit({"user_service/app.txt": "user tweak\n"}, "docs: tweak [skip ci]")
    skipped = seeded.push()
    assert built(runtime, skipped) == {}
    seeded.repo.git.reset("--hard", base)
    seeded.commit({"web/src/index.html": "web v2\n"})
    forced = seeded.push(force=True)

    builds = built(runtime, forced)

    assert sorted(builds) == ["web"]
    assert builds["web"].changed_paths == ("web/src/index.html",)


def test_a_force_push_that_only_drops_a_skip_ci_commit_builds_nothing(seeded, runtime, deployed):
    base = seeded.repo.head.commit.hexsha
    seeded.commit({"web/src/index.html": "web tweak\n"}, "wip [skip ci]")
    assert built(runtime, seeded.push()) == {}
    seeded.repo.git.reset("--hard", base)
    seeded.commit({"README.md": "# mono, again\n"})
    forced = seeded.push(force=True)

    [completed] = make_handler(runtime)(forced)

    assert isinstance(completed, RunCompleted) and completed.status == "skipped"
    assert runtime.runs.get(forced.run_id).reason == ALL_DEPLOYED


def test_a_force_push_from_a_commit_never_seen_builds_only_what_differs_from_the_deployed(
    seeded, runtime, deployed
):
    base = seeded.repo.head.commit.hexsha
    seeded.commit({"web/src/index.html": "web tweak\n"}, "wip [skip ci]")
    seeded.push()  # the detector never sees it: its mirror does not know `before`
    seeded.repo.git.reset("--hard", base)
    seeded.commit({"user_service/app.txt": "user v2\n"})

    assert sorted(built(runtime, seeded.push(force=True))) == ["user-service"]


def test_a_service_whose_build_failed_on_an_outage_is_rebuilt_by_a_push_to_another(
    seeded, runtime, deployed
):
    seeded.commit({"user_service/app.txt": "user v2\n"})
    first = seeded.push()
    assert sorted(built(runtime, first)) == ["user-service"]
    failed(runtime, first, "user-service", transient=True)
    seeded.commit({"web/src/index.html": "web v2\n"})
    second = seeded.push()

    builds = built(runtime, second)

    assert sorted(builds) == ["user-service", "web"]
    assert builds["user-service"].source.commit == second.after
    assert builds["user-service"].changed_paths == ("user_service/app.txt",)
    assert "latest" in builds["user-service"].tags


def test_a_service_whose_build_is_still_under_way_is_not_rebuilt_by_a_push_to_another(
    seeded, runtime, deployed
):
    seeded.commit({"user_service/app.txt": "user v2\n"})
    assert sorted(built(runtime, seeded.push())) == ["user-service"]
    seeded.commit({"web/src/index.html": "web v2\n"})

    assert sorted(built(runtime, seeded.push())) == ["web"]


def test_a_service_whose_build_failed_for_good_waits_for_a_commit_that_touches_it(
    seeded, runtime, deployed
):
    seeded.commit({"user_service/Dockerfile": "FROM nowhere\n"})
    first = seeded.push()
    built(runtime, first)
    failed(runtime, first, "user-service", transient=False)
    seeded.commit({"web/src/index.html": "web v2\n"})
    assert sorted(built(runtime, seeded.push())) == ["web"]
    seeded.commit({"user_service/Dockerfile": "FROM scratch\n"})

    assert sorted(built(runtime, seeded.push())) == ["user-service"]


def test_without_a_deployed_record_a_push_builds_what_it_changed_as_before(seeded, runtime):
    seeded.commit({"user_service/app.txt": "user v2\n"})
    first = seeded.push()
    built(runtime, first)
    failed(runtime, first, "user-service", transient=True)
    seeded.commit({"web/src/index.html": "web v2\n"})

    assert sorted(built(runtime, seeded.push())) == ["web"]


def pins_in_git(seeded: Monorepo, *services: str, message: str = "pins") -> None:
    """The pins file as the committer writes it into the gitops branch (here main): a
    rollback's pin, or an unpin (the services left)."""
    pins = [Pin(NAME, s, f"127.0.0.1:5000/acme/{s}:old", "dana", "rb-1", 0.0) for s in services]
    seeded.commit({PINS_FILE: render_pins(pins)}, message, author=BOT)


def test_a_service_pinned_in_git_is_held_with_redis_empty_and_converges_once_unpinned(
    seeded, runtime, deployed
):
    pins_in_git(seeded, "user-service")
    assert runtime.pins.get(NAME, "user-service") is None  # Redis lost its cache of the pin
    seeded.commit({"user_service/app.txt": "user v2\n"})
    first = seeded.push()
    assert sorted(built(runtime, first)) == ["user-service"]  # the push touches it
    runtime.runs.apply(
        DeploymentSkipped(
            run_id=first.run_id,
            service="user-service",
            source=Source(repository=NAME, commit=first.after, ref=first.ref),
            image="127.0.0.1:5000/acme/user-service:sha-x",
            outcome="held",
            reason="held: pinned",
        )
    )
    seeded.commit({"web/src/index.html": "web v2\n"})
    assert sorted(built(runtime, seeded.push())) == ["web"]  # held: not rebuilt
    unpin = "chore(user-service): unpin 127.0.0.1:5000/acme/user-service:old [skip ci]"
    pins_in_git(seeded, message=unpin)  # `shipline unpin`: the entry leaves the pins file
    assert built(runtime, seeded.push()) == {}  # the unpin itself deploys nothing
    seeded.commit({"web/src/index.html": "web v3\n"})

    assert sorted(built(runtime, seeded.push())) == ["user-service", "web"]


def test_an_unreadable_pins_file_holds_every_service_and_builds_nothing_extra(
    seeded, runtime, deployed
):
    seeded.commit({PINS_FILE: "pins: [not, a, mapping\n"}, "hand edit", author=BOT)
    seeded.commit({"user_service/app.txt": "user v2\n"})
    first = seeded.push()
    assert sorted(built(runtime, first)) == ["user-service"]  # what the push changed
    failed(runtime, first, "user-service", transient=True)
    seeded.commit({"web/src/index.html": "web v2\n"})

    assert sorted(built(runtime, seeded.push())) == ["web"]


def test_a_push_to_another_branch_is_judged_on_the_push_alone(seeded, runtime, deployed):
    seeded.commit({"user_service/app.txt": "user v2\n"})
    first = seeded.push()
    built(runtime, first)
    failed(runtime, first, "user-service", transient=True)
    seeded.branch("feature")
    seeded.commit({"web/src/index.html": "web feature\n"})

    assert sorted(built(runtime, seeded.push("feature"))) == ["web"]


def test_a_service_deployed_from_a_newer_commit_than_the_push_is_not_rebuilt(seeded, runtime):
    seeded.commit({"web/src/index.html": "web v2\n"})
    push = seeded.push()
    seeded.branch("next")
    newer = seeded.commit({"user_service/app.txt": "user next\n"})
    seeded.repo.git.push("origin", "HEAD:refs/heads/next")
    seeded.mirror.fetch()
    state = DeployedState(
        head="f" * 40,
        services={
            "user-service": DeployedFrom(repository=NAME, commit=newer),
            "web": DeployedFrom(repository=NAME, commit=push.before),
        },
    )
    today = {"web": ("paths", ("web/src/index.html",))}
    sent = SentBuilds(runtime.redis)

    builds = against_deployed(
        seeded.mirror, push, seeded_project(seeded, push), today, state, runtime.pins, sent
    )

    assert builds == today  # user-service differs, but the deployed commit is newer


def test_a_deployed_commit_the_mirror_does_not_hold_counts_as_no_record(seeded, runtime):
    seeded.commit({"web/src/index.html": "web v2\n"})
    push = seeded.push()
    seeded.mirror.fetch()
    unknown = uuid.uuid4().hex + "0" * 8
    state = DeployedState(
        head="f" * 40,
        services={name: DeployedFrom(repository=NAME, commit=unknown) for name in SERVICES},
    )
    today = {"web": ("paths", ("web/src/index.html",))}

    builds = against_deployed(
        seeded.mirror,
        push,
        seeded_project(seeded, push),
        today,
        state,
        runtime.pins,
        SentBuilds(runtime.redis),
    )

    assert builds == today


def seeded_project(seeded: Monorepo, push: PushReceived):
    from services.common.mirrors import project_at

    return project_at(seeded.mirror, NAME, push.after)


class CountingMirror:
    """The mirror, counting the batched diffs asked of it."""

    def __init__(self, mirror) -> None:
        self._mirror, self.batches = mirror, 0

    def diff_paths_from(self, bases, after):
        self.batches += 1
        return self._mirror.diff_paths_from(bases, after)

    def __getattr__(self, name):
        return getattr(self._mirror, name)


def test_a_steady_push_carries_the_last_comparison_over_and_decides_as_a_full_one(seeded, runtime):
    from services.detector import against_deployed as module

    seeded.commit({"user_service/app.txt": "user v2\n"})
    first = seeded.push()
    seeded.commit({"web/src/index.html": "web v2\n"})
    second = seeded.push()
    seeded.mirror.fetch()
    older = first.before  # every service deployed from the seed
    state = DeployedState(
        head="f" * 40,
        services={name: DeployedFrom(repository=NAME, commit=older) for name in SERVICES},
    )
    git, sent = CountingMirror(seeded.mirror), SentBuilds(runtime.redis)
    project = seeded_project(seeded, second)
    module._COMPARED.clear()
    against_deployed(
        git, first, project, {"user-service": ("paths", ())}, state, runtime.pins, sent
    )
    batches = git.batches

    carried = against_deployed(
        git, second, project, {"web": ("paths", ())}, state, runtime.pins, sent, steady=True
    )
    carried_batches = git.batches - batches
    unchanged = against_deployed(
        git, second, project, {"user-service": ("paths", ()), "web": ("paths", ())}, state,
        runtime.pins, sent, steady=True,
    )  # fmt: skip
    module._COMPARED.clear()
    full = against_deployed(git, second, project, {"web": ("paths", ())}, state, runtime.pins, sent)

    assert carried_batches == 1  # only for the reasons of the service it adds
    assert git.batches == batches + 2  # the second carried comparison asked git nothing
    assert sorted(carried) == sorted(full) == ["user-service", "web"]
    assert carried == full
    assert sorted(unchanged) == ["user-service", "web"]


def test_a_skip_ci_change_builds_nothing_and_goes_out_with_the_next_push_that_builds(
    seeded, runtime, deployed
):
    seeded.commit({"user_service/app.txt": "user quiet\n"}, "chore(user): quiet [skip ci]")
    skipped = seeded.push()
    [completed] = make_handler(runtime)(skipped)
    assert isinstance(completed, RunCompleted) and completed.status == "skipped"
    seeded.commit({"web/src/index.html": "web v2\n"})

    builds = built(runtime, seeded.push())

    assert sorted(builds) == ["user-service", "web"]
    assert builds["user-service"].changed_paths == ("user_service/app.txt",)

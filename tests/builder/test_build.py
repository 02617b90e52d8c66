"""The builder stage end to end on real git, dockerd, registry and Redis: context at the commit,
idempotency, layer cache, superseding, build logs, timeouts and registry failures."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta

import docker
import git
import httpx
import pytest
import redis

from services.builder.build import Builder
from services.builder.coordination import Coordinator
from services.builder.docker_engine import DockerEngine
from services.builder.logs import build_log_path
from services.common.errors import PermanentError
from services.common.events import (
    BuildSuperseded,
    ChangeDetected,
    Envelope,
    ImagePushed,
    StageFailed,
    encode_event,
)
from services.common.runtime import Runtime
from services.common.settings import BuilderSettings, RegistryCredential, Settings
from services.common.stage import RetryLater, StageDefinition, StageRunner
from services.devenv.registry import Registry
from tests.builder.conftest import Monorepo, change_for
from tests.builder.test_docker_engine import unused_port


def dockerfile(base_image: str, *steps: str) -> str:
    return "\n".join([f"FROM {base_image}", *steps]) + "\n"


def only(events: Sequence[Envelope]) -> Envelope:
    assert len(events) == 1, events
    return events[0]


def pushed(events: Sequence[Envelope]) -> ImagePushed:
    event = only(events)
    assert isinstance(event, ImagePushed), event
    return event


def name_of(image_repository: str) -> str:
    return image_repository.split("/", 1)[1]


def layers(registry: Registry, name: str, tag: str) -> list[str]:
    with httpx.Client(base_url=registry.url, timeout=10) as client:
        response = client.get(
            f"/v2/{name}/manifests/{tag}",
            headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
        )
        response.raise_for_status()
    return [layer["digest"] for layer in response.json()["layers"]]


@contextlib.contextmanager
def runtime_of(settings: Settings) -> Iterator[Runtime]:
    runtime = Runtime(settings)
    try:
        yield runtime
    finally:
        if "celery" in runtime.__dict__:
            runtime.celery.close()
        runtime.redis.close()


@pytest.fixture
def runtime(settings: Settings, redis_client: redis.Redis) -> Iterator[Runtime]:
    with runtime_of(settings) as runtime:
        yield runtime


def runner_for(runtime: Runtime, builder: Builder) -> StageRunner:
    definition = StageDefinition(
        name="builder",
        consumes=(ChangeDetected,),
        factory=lambda _: lambda event: builder.build(event),  # type: ignore[arg-type]
    )
    return StageRunner(definition, runtime)


def run_events(runtime: Runtime, run_id: str) -> list[dict[str, object]]:
    return [event for _, event in runtime.event_log.for_run(run_id)]


# --- the context: exactly the commit, .dockerignore honoured, build args and target -------


def test_the_image_is_built_from_the_context_at_exactly_the_pushed_commit(
    builder: Builder, monorepo: Monorepo, registry: Registry, base_image: str, settings: Settings
) -> None:
    steps = ("COPY app.txt /app/app.txt", "RUN cat /app/app.txt")
    first = monorepo.commit(
        {
            "api/Dockerfile": dockerfile(base_image, *steps),
            "api/app.txt": f"version-one {monorepo.namespace}\n",
        }
    )
    # the branch moved on since
    monorepo.commit({"api/app.txt": f"version-two {monorepo.namespace}\n"})
    change = change_for(monorepo.image_repository(registry, "api"), "api", first)

    event = pushed(builder.build(change))

    name = name_of(change.image_repository)
    assert event.digest == registry.manifest_digest(name, f"sha-{first[:7]}")
    assert registry.manifest_digest(name, "latest") == event.digest
    labels = registry.config_labels(name, f"sha-{first[:7]}")
    assert labels["org.opencontainers.image.revision"] == first
    assert labels["org.opencontainers.image.version"] == f"sha-{first[:7]}"
    log = build_log_path(settings.workdir, change.run_id, "api").read_text()
    assert "version-one" in log and "version-two" not in log
    assert not event.cached


def test_files_the_dockerignore_excludes_never_reach_the_build(
    builder: Builder, monorepo: Monorepo, registry: Registry, base_image: str
) -> None:
    check = "RUN test -f /app/app.txt && test ! -e /app/secrets && test ! -e /app/debug.log"
    commit = monorepo.commit(
        {
            "api/Dockerfile": dockerfile(base_image, "COPY . /app/", check),
            "api/.dockerignore": "secrets/\n*.log\n",
            "api/app.txt": f"app {monorepo.namespace}\n",
            "api/debug.log": "noise\n",
            "api/secrets/key.pem": "-----BEGIN PRIVATE KEY-----\n",
        }
    )

    event = pushed(
        builder.build(change_for(monorepo.image_repository(registry, "api"), "api", commit))
    )

    assert event.digest.startswith("sha256:")


def test_build_args_and_target_of_the_service_shape_the_image(
    builder: Builder, monorepo: Monorepo, registry: Registry, base_image: str
) -> None:
    multi_stage = (
        f"FROM {base_image} AS runtime\nARG FLAVOUR=plain\nLABEL test.flavour=$FLAVOUR\n"
        f"FROM {base_image} AS debug\nLABEL test.flavour=debug\n"
    )
    monorepo.services["api"] = {"build_args": {"FLAVOUR": "spicy"}, "target": "runtime"}
    commit = monorepo.commit({"api/Dockerfile": multi_stage})
    change = change_for(
        monorepo.image_repository(registry, "api"),
        "api",
        commit,
        build_args={"FLAVOUR": "spicy"},
        target="runtime",
    )

    pushed(builder.build(change))

    labels = registry.config_labels(name_of(change.image_repository), f"sha-{commit[:7]}")
    assert labels["test.flavour"] == "spicy"


def test_a_release_tag_build_gets_the_version_and_names_the_commit_the_tag_points_at(
    builder: Builder, monorepo: Monorepo, registry: Registry, base_image: str
) -> None:
    commit = monorepo.commit({"api/Dockerfile": dockerfile(base_image, "RUN true")})
    with git.Repo(monorepo.clone) as repo:
        tag = repo.create_tag("v1.0.0", message="Release 1.0.0")  # annotated: a tag object
        repo.git.push("origin", "refs/tags/v1.0.0")
        assert tag.tag is not None and tag.tag.hexsha != commit
    image = monorepo.image_repository(registry, "api")

    pushed(
        builder.build(change_for(image, "api", commit, ref="refs/tags/v1.0.0", tags=("v1.0.0",)))
    )

    labels = registry.config_labels(name_of(image), "v1.0.0")
    assert labels["org.opencontainers.image.version"] == "v1.0.0"
    assert labels["org.opencontainers.image.revision"] == commit


def test_a_change_naming_a_tag_object_instead_of_its_commit_is_refused(
    builder: Builder, monorepo: Monorepo, registry: Registry, base_image: str
) -> None:
    commit = monorepo.commit({"api/Dockerfile": dockerfile(base_image, "RUN true")})
    with git.Repo(monorepo.clone) as repo:
        tag = repo.create_tag("v1.0.1", message="Release 1.0.1")
        repo.git.push("origin", "refs/tags/v1.0.1")
        assert tag.tag is not None
        tag_object = tag.tag.hexsha
    image = monorepo.image_repository(registry, "api")
    change = change_for(image, "api", tag_object, ref="refs/tags/v1.0.1", tags=("v1.0.1",))

    with pytest.raises(
        PermanentError,
        match=f"{tag_object} .* is a tag object, not a commit: "
        f"publish the commit it tags, {commit}",
    ):
        builder.build(change)


# --- idempotency ------------------------------------------------------------------------


def simple_service(monorepo: Monorepo, base_image: str, text: str = "hello\n") -> str:
    return monorepo.commit(
        {
            "api/Dockerfile": dockerfile(base_image, "COPY app.txt /app/app.txt"),
            "api/app.txt": text,
        }
    )


def test_a_commit_already_in_the_registry_is_not_built_again(
    builder: Builder, monorepo: Monorepo, registry: Registry, base_image: str, settings: Settings
) -> None:
    commit = simple_service(monorepo, base_image)
    image = monorepo.image_repository(registry, "api")
    first = pushed(builder.build(change_for(image, "api", commit)))
    again = change_for(image, "api", commit)  # another run: a replayed webhook, a manual retry

    second = pushed(builder.build(again))

    assert second.cached and second.digest == first.digest
    assert registry.manifest_digest(name_of(image), f"sha-{commit[:7]}") == first.digest
    assert not build_log_path(settings.workdir, again.run_id, "api").exists()


def test_a_redelivered_change_detected_never_pushes_twice(
    builder: Builder,
    runtime: Runtime,
    monorepo: Monorepo,
    registry: Registry,
    base_image: str,
) -> None:
    commit = simple_service(monorepo, base_image)
    change = change_for(monorepo.image_repository(registry, "api"), "api", commit)
    runner = runner_for(runtime, builder)
    first = pushed(builder.build(change))  # the worker pushed, then died before acknowledging

    runner.process(encode_event(change))  # the broker redelivers it
    runner.process(encode_event(change))  # and once more, after it was handled

    images = [e for e in run_events(runtime, change.run_id) if e["type"] == "ImagePushed"]
    assert [(e["digest"], e["cached"]) for e in images] == [(first.digest, True)]
    name = name_of(change.image_repository)
    assert registry.manifest_digest(name, f"sha-{commit[:7]}") == first.digest


def test_a_cached_image_gets_the_tags_the_new_request_asks_for(
    builder: Builder, monorepo: Monorepo, registry: Registry, base_image: str
) -> None:
    commit = simple_service(monorepo, base_image)
    image = monorepo.image_repository(registry, "api")
    feature = pushed(builder.build(change_for(image, "api", commit, ref="refs/heads/feature")))
    assert registry.manifest_digest(name_of(image), "latest") is None

    main = pushed(builder.build(change_for(image, "api", commit)))  # merged: main at that commit

    assert main.cached
    assert registry.manifest_digest(name_of(image), "latest") == feature.digest


def test_two_requests_for_one_commit_at_once_build_it_once(
    builder: Builder, monorepo: Monorepo, registry: Registry, base_image: str
) -> None:
    commit = simple_service(monorepo, base_image)
    image = monorepo.image_repository(registry, "api")
    results: list[ImagePushed] = []

    def build() -> None:
        results.append(pushed(builder.build(change_for(image, "api", commit))))

    threads = [threading.Thread(target=build) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert sorted(r.cached for r in results) == [False, True]
    assert len({r.digest for r in results}) == 1


# --- layer cache ------------------------------------------------------------------------


def test_an_unchanged_step_is_not_run_again_for_the_next_commit(
    builder: Builder,
    monorepo: Monorepo,
    registry: Registry,
    base_image: str,
    docker_client: docker.DockerClient,
) -> None:
    """The RUN step writes a random value; its layer stays identical across the two commits,
    although the first image was deleted from the engine: the cache came from the registry."""
    image = monorepo.image_repository(registry, "api")
    stamp = f"RUN echo {monorepo.namespace} && cat /proc/sys/kernel/random/uuid > /stamp"
    steps = dockerfile(base_image, stamp, "COPY app.txt /app/app.txt")
    first = monorepo.commit({"api/Dockerfile": steps, "api/app.txt": "one\n"})
    pushed(builder.build(change_for(image, "api", first)))
    for local in docker_client.images.list(name=image):
        docker_client.images.remove(local.id, force=True)
    second = monorepo.commit({"api/app.txt": "two\n"})

    pushed(builder.build(change_for(image, "api", second)))

    before = layers(registry, name_of(image), f"sha-{first[:7]}")
    after = layers(registry, name_of(image), f"sha-{second[:7]}")
    assert after[:2] == before[:2]  # the base and the RUN step's random stamp
    assert after[2] != before[2]  # the changed file


# --- superseded builds --------------------------------------------------------------------


def test_a_newer_push_cancels_the_running_build_of_the_service_and_branch(
    builder: Builder,
    monorepo: Monorepo,
    registry: Registry,
    base_image: str,
    settings: Settings,
    redis_client: redis.Redis,
) -> None:
    image = monorepo.image_repository(registry, "api")
    old = monorepo.commit(
        {"api/Dockerfile": dockerfile(base_image, f"RUN echo {uuid.uuid4().hex} && sleep 60")}
    )
    new = monorepo.commit({"api/Dockerfile": dockerfile(base_image, "RUN true")})
    old_change = change_for(image, "api", old)
    log = build_log_path(settings.workdir, old_change.run_id, "api")
    outcome: list[Sequence[Envelope]] = []
    worker = threading.Thread(target=lambda: outcome.append(builder.build(old_change)))
    worker.start()
    deadline = time.monotonic() + 30
    while not (log.exists() and " RUN echo " in log.read_text()):
        assert time.monotonic() < deadline, "the old build never started its RUN step"
        time.sleep(0.1)
    started = time.monotonic()

    Coordinator(redis_client).claim_newest(change_for(image, "api", new, run_id="run-newer"))

    worker.join(timeout=30)
    assert time.monotonic() - started < 10
    event = only(outcome[0])
    assert isinstance(event, BuildSuperseded)
    assert (event.newer_commit, event.newer_run_id) == (new, "run-newer")
    assert registry.tags(name_of(image)) == []
    assert "superseded by" in log.read_text()


def test_an_older_push_reaching_a_builder_after_a_newer_one_is_dropped_unbuilt(
    builder: Builder, monorepo: Monorepo, registry: Registry, base_image: str, settings: Settings
) -> None:
    image = monorepo.image_repository(registry, "api")
    old = simple_service(monorepo, base_image, "old\n")
    new = simple_service(monorepo, base_image, "new\n")
    now = datetime.now(UTC)
    pushed(builder.build(change_for(image, "api", new, occurred_at=now)))
    late = change_for(image, "api", old, occurred_at=now - timedelta(seconds=30))

    event = only(builder.build(late))

    assert isinstance(event, BuildSuperseded) and event.newer_commit == new
    assert registry.manifest_digest(name_of(image), f"sha-{old[:7]}") is None
    assert not build_log_path(settings.workdir, late.run_id, "api").exists()


def test_a_superseded_service_still_completes_its_run(
    builder: Builder,
    runtime: Runtime,
    monorepo: Monorepo,
    registry: Registry,
    base_image: str,
    redis_client: redis.Redis,
) -> None:
    image = monorepo.image_repository(registry, "api")
    old, new = (
        simple_service(monorepo, base_image, "a\n"),
        simple_service(monorepo, base_image, "b\n"),
    )
    change = change_for(image, "api", old, run_id="run-old")
    runtime.runs.create("run-old", trigger="push", repository="acme/shop", commit=old)
    runtime.runs.plan("run-old", ["api"])
    Coordinator(redis_client).claim_newest(
        change_for(
            image, "api", new, run_id="run-new", occurred_at=change.occurred_at + timedelta(1)
        )
    )

    runner_for(runtime, builder).process(encode_event(change))

    run = runtime.runs.get("run-old")
    assert run is not None
    assert run.status == "superseded"
    assert run.services["api"].status == "superseded"
    assert run.services["api"].reason == f"superseded by {new[:7]} (run run-new)"
    completed = [e for e in run_events(runtime, "run-old") if e["type"] == "RunCompleted"]
    assert [e["status"] for e in completed] == ["superseded"]


# --- failures: logs, timeout, credentials, transient trouble ------------------------------


def stage_failed(runtime: Runtime, run_id: str) -> StageFailed:
    [failed] = [e for e in run_events(runtime, run_id) if e["type"] == "StageFailed"]
    return StageFailed.model_validate(failed)


def test_a_failing_build_keeps_its_whole_log_and_stage_failed_carries_the_last_lines(
    builder: Builder,
    runtime: Runtime,
    monorepo: Monorepo,
    registry: Registry,
    base_image: str,
    settings: Settings,
) -> None:
    noisy = "RUN for i in $(seq 1 60); do echo line-$i; done && exit 3"
    commit = monorepo.commit({"api/Dockerfile": dockerfile(base_image, noisy)})
    change = change_for(monorepo.image_repository(registry, "api"), "api", commit)

    runner_for(runtime, builder).process(encode_event(change))

    failed = stage_failed(runtime, change.run_id)
    log = build_log_path(settings.workdir, change.run_id, "api")
    assert not failed.retryable
    assert failed.message.splitlines()[0].endswith("exit code: 3")
    assert f"build log: {log}" in failed.message
    assert "line-60" in failed.message and "line-1\n" not in failed.message
    assert "line-1\n" in log.read_text() and "line-60" in log.read_text()


def test_a_build_past_its_timeout_fails_the_service_clearly(
    monorepo: Monorepo,
    registry: Registry,
    base_image: str,
    settings: Settings,
    docker_client: docker.DockerClient,
    redis_client: redis.Redis,
) -> None:
    quick = settings.model_copy(update={"builder": BuilderSettings(timeout_seconds=2)})
    builder = Builder(quick, DockerEngine(docker_client), Coordinator(redis_client))
    commit = monorepo.commit(
        {"api/Dockerfile": dockerfile(base_image, f"RUN echo {uuid.uuid4().hex} && sleep 60")}
    )
    change = change_for(monorepo.image_repository(registry, "api"), "api", commit)
    started = time.monotonic()

    with runtime_of(quick) as runtime:
        runner_for(runtime, builder).process(encode_event(change))
        message = stage_failed(runtime, change.run_id).message

    assert time.monotonic() - started < 15
    assert "exceeded its timeout of 2s" in message


def test_wrong_registry_credentials_fail_the_service_clearly_without_the_password(
    monorepo: Monorepo,
    auth_registry: Registry,
    base_image: str,
    settings: Settings,
    docker_client: docker.DockerClient,
    redis_client: redis.Redis,
) -> None:
    wrong = "not-the-password-" + uuid.uuid4().hex[:6]
    credential = RegistryCredential(username="shipline", password=wrong)
    with_login = settings.model_copy(update={"registry_auth": {auth_registry.host: credential}})
    builder = Builder(with_login, DockerEngine(docker_client), Coordinator(redis_client))
    monorepo.registry = auth_registry.host
    commit = simple_service(monorepo, base_image)
    change = change_for(f"{auth_registry.host}/{monorepo.namespace}/api", "api", commit)
    started = time.monotonic()

    with runtime_of(with_login) as runtime:
        runner_for(runtime, builder).process(encode_event(change))
        failed = stage_failed(runtime, change.run_id)

    assert time.monotonic() - started < 30
    assert not failed.retryable
    assert "registry_auth" in failed.message and auth_registry.host in failed.message
    assert wrong not in failed.message
    assert auth_registry.password is not None and auth_registry.password not in failed.message


def test_an_unreachable_registry_is_retried_later_with_backoff(
    builder: Builder, runtime: Runtime, monorepo: Monorepo, base_image: str
) -> None:
    monorepo.registry = f"127.0.0.1:{unused_port()}"
    commit = simple_service(monorepo, base_image)
    change = change_for(f"{monorepo.registry}/{monorepo.namespace}/api", "api", commit)

    with pytest.raises(RetryLater) as later:
        runner_for(runtime, builder).process(encode_event(change), attempt=1)

    assert 0 <= later.value.countdown <= 1
    assert [e["type"] for e in run_events(runtime, change.run_id)] == []

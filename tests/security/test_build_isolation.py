"""Issue 17, V3 and V4: what a build may touch.

V4 (repository writer): a RUN step tries to reach Shipline's own Redis and a server on the
host's loopback, pushed through a running Shipline (`stack`): it gets no network.
V3 (forged ChangeDetected, as a message published straight to the builder would be): another
image repository, another host, another service's context, build args or tags of its own
choosing. The real builder stage, on the real dockerd, registry, Redis and git, refuses each
one, pushes nothing and contacts no other host.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from urllib.parse import urlparse

import docker
import pytest
import redis

from services.builder.build import Builder
from services.builder.coordination import Coordinator
from services.builder.docker_engine import DockerEngine
from services.common.events import ChangeDetected, encode_event
from services.common.runtime import Runtime
from services.common.settings import Settings
from services.devenv.registry import Registry
from tests.builder.conftest import Monorepo, builder, change_for, monorepo, settings
from tests.builder.test_build import runner_for, runtime_of, stage_failed
from tests.builder.test_build_network import Listener, listener
from tests.builder.test_docker_engine import app_context
from tests.stack import Stack

__all__ = ["builder", "listener", "monorepo", "settings"]  # fixtures shared with tests/builder


# --- V4: a RUN step reaches for Shipline's Redis and the host's loopback --------------------


def test_a_run_step_of_a_pushed_dockerfile_cannot_reach_shiplines_redis_or_the_host(
    stack: Stack, redis_url: str, listener: Listener
) -> None:
    key = f"pwned-{uuid.uuid4().hex[:8]}"
    redis_at = urlparse(redis_url)
    redis_port = redis_at.port or 0  # 0: Redis listens on no port at all (a unix socket)
    step = (
        f"RUN for port in {listener.port} {redis_port}; do "
        f"if printf 'SET {key} 1\\r\\n' | nc -w 2 127.0.0.1 $port; "
        'then echo REACHED""-$port; else echo NO-NETWORK""-$port; fi; done'
    )
    push = stack.sample.append("user_service/Dockerfile", step, "feat(user): a hostile step")

    response = stack.push_webhook(push)
    run = stack.wait_for_run(response.json()["run_id"])

    log = stack.log_path.parent / "state" / "builds" / run["run_id"] / "user-service.log"
    output = log.read_text()
    assert f"NO-NETWORK-{listener.port}" in output and "REACHED-" not in output
    assert listener.connections == 0
    assert stack.redis.get(key) is None
    assert run["services"]["user-service"]["status"] == "succeeded"


# --- V3: a forged ChangeDetected ------------------------------------------------------------


@pytest.fixture
def runtime(settings: Settings, redis_client: redis.Redis) -> Iterator[Runtime]:
    with runtime_of(settings) as runtime:
        yield runtime


@pytest.fixture
def shop(monorepo: Monorepo, base_image: str) -> str:
    """Two services, `api` and `web`; returns the commit."""
    dockerfile = f"FROM {base_image}\nCOPY app.txt /app/app.txt\n"
    return monorepo.commit(
        {
            "api/Dockerfile": dockerfile,
            "api/app.txt": "api\n",
            "web/Dockerfile": dockerfile,
            "web/app.txt": "web\n",
        }
    )


def refused(runtime: Runtime, builder: Builder, forged: ChangeDetected) -> str:
    """What the builder stage said about a forged ChangeDetected (it must fail for good)."""
    runner_for(runtime, builder).process(encode_event(forged))
    failed = stage_failed(runtime, forged.run_id)
    assert not failed.retryable
    return failed.message


def test_a_forged_image_repository_never_overwrites_another_teams_image(
    builder: Builder,
    runtime: Runtime,
    monorepo: Monorepo,
    shop: str,
    registry: Registry,
    base_image: str,
    docker_client: docker.DockerClient,
) -> None:
    theirs = "other-team/base-image"
    original = DockerEngine(docker_client).build_and_push(
        app_context(base_image, "other-team"),
        "Dockerfile",
        f"{registry.host}/{theirs}",
        ["latest"],
        {},
        None,
    )
    forged = change_for(f"{registry.host}/{theirs}", "api", shop, context="api")

    message = refused(runtime, builder, forged)

    assert "ChangeDetected.image_repository" in message
    assert registry.manifest_digest(theirs, "latest") == original.digest
    assert registry.tags(theirs) == ["latest"]
    assert registry.tags(f"{monorepo.namespace}/api") == []


def test_a_forged_foreign_host_is_never_contacted(
    builder: Builder, runtime: Runtime, monorepo: Monorepo, shop: str, listener: Listener
) -> None:
    forged = change_for(f"127.0.0.1:{listener.port}/{monorepo.namespace}/api", "api", shop)
    evil = change_for(f"evil.example.com/{monorepo.namespace}/api", "api", shop)

    first, second = refused(runtime, builder, forged), refused(runtime, builder, evil)

    assert "ChangeDetected.image_repository" in first
    assert "ChangeDetected.image_repository" in second
    assert listener.connections == 0


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"context": "web"}, "context"),  # another service's code built as this one
        ({"build_args": {"HTTP_PROXY": "http://evil.example.com"}}, "build_args"),
        ({"target": "debug"}, "target"),
        ({"dockerfile": "../web/Dockerfile"}, "dockerfile"),
    ],
)
def test_a_forged_context_build_args_target_or_dockerfile_is_refused_and_nothing_pushed(
    builder: Builder,
    runtime: Runtime,
    monorepo: Monorepo,
    shop: str,
    registry: Registry,
    fields: dict[str, object],
    field: str,
) -> None:
    forged = change_for(monorepo.image_repository(registry, "api"), "api", shop, **fields)

    message = refused(runtime, builder, forged)

    assert f"ChangeDetected.{field}" in message
    assert registry.tags(f"{monorepo.namespace}/api") == []


@pytest.mark.parametrize(
    ("ref", "tags", "why"),
    [
        ("refs/heads/feature", ("latest",), "ChangeDetected.tags"),
        ("refs/heads/feature", ("{sha}", "latest"), "ChangeDetected.tags"),
        ("refs/tags/v9.9.9", ("v9.9.9",), "does not name"),  # a tag that does not exist
    ],
)
def test_tags_the_ref_does_not_give_are_refused_and_nothing_pushed(
    builder: Builder,
    runtime: Runtime,
    monorepo: Monorepo,
    shop: str,
    registry: Registry,
    ref: str,
    tags: tuple[str, ...],
    why: str,
) -> None:
    tags = tuple(tag.format(sha=f"sha-{shop[:7]}") for tag in tags)
    forged = change_for(monorepo.image_repository(registry, "api"), "api", shop, ref=ref, tags=tags)

    message = refused(runtime, builder, forged)

    assert why in message
    assert registry.tags(f"{monorepo.namespace}/api") == []


def test_latest_for_a_commit_the_default_branch_does_not_hold_is_refused(
    builder: Builder, runtime: Runtime, monorepo: Monorepo, shop: str, registry: Registry
) -> None:
    aside = monorepo.commit({"api/app.txt": "never merged\n"}, branch="experiment")
    tags = (f"sha-{aside[:7]}", "latest")
    forged = change_for(monorepo.image_repository(registry, "api"), "api", aside, tags=tags)

    message = refused(runtime, builder, forged)

    assert "'refs/heads/main' of acme/shop does not name" in message
    assert registry.tags(f"{monorepo.namespace}/api") == []


def test_a_service_opting_into_network_on_an_engine_without_a_bridge_fails_clearly(
    builder: Builder,
    runtime: Runtime,
    monorepo: Monorepo,
    registry: Registry,
    base_image: str,
    listener: Listener,
) -> None:
    monorepo.services["api"] = {"network": True}
    step = f"RUN nc -w 2 127.0.0.1 {listener.port} </dev/null || true"
    commit = monorepo.commit({"api/Dockerfile": f"FROM {base_image}\n{step}\n"})
    change = change_for(monorepo.image_repository(registry, "api"), "api", commit)

    message = refused(runtime, builder, change)

    assert "no bridge network" in message and "network: true" in message
    assert listener.connections == 0
    assert registry.tags(f"{monorepo.namespace}/api") == []


# --- A repository writer's shipline.yaml names a registry path outside its own --------------


def test_a_shipline_yaml_naming_a_registry_path_outside_image_registries_builds_nothing(
    settings: Settings,
    runtime: Runtime,
    monorepo: Monorepo,
    shop: str,
    registry: Registry,
    docker_client: docker.DockerClient,
    redis_client: redis.Redis,
) -> None:
    repositories = [
        repo.model_copy(update={"image_registries": [f"{registry.host}/{monorepo.namespace}"]})
        for repo in settings.repositories
    ]
    confined = settings.model_copy(update={"repositories": repositories})
    own = Builder(confined, DockerEngine(docker_client), Coordinator(redis_client))
    elsewhere = f"{monorepo.namespace}-other/api"
    hostile = monorepo.commit(
        {
            "shipline.yaml": f"registry: {registry.host}/{monorepo.namespace}-other\n"
            "services:\n  api:\n    path: api/\n"
        },
        "chore: push images elsewhere",
    )

    message = refused(
        runtime, own, change_for(f"{registry.host}/{elsewhere}", "api", hostile, context="api")
    )

    assert "outside the image_registries" in message
    assert registry.tags(elsewhere) == []

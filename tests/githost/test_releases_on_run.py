"""A release run's Release on the git host, made by the notifier stage on a real Redis when
the run completes, against the loopback GitHub checked against GitHub's published OpenAPI
description: one Release per tag with the notes and every image at its digest, updated by
a redelivery or a second run of the tag, and a host failure that leaves the deploy alone."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from services.common.bus import queue_name
from services.common.errors import PermanentError, TransientError
from services.common.events import RunCompleted, ServiceOutcome, encode_event
from services.common.keyspace import DEFAULT_KEYSPACE
from services.common.runtime import Runtime
from services.common.settings import Settings
from services.common.stage import RetryLater, StageRunner
from services.notifier.task import STAGE, make_handler
from tests.githost.conftest import TOKEN
from tests.githost.fake_github import FakeGitHub
from tests.githost.loopback import Reply
from tests.notifier.samples import (
    ACCOUNT_DIGEST,
    REGISTRY,
    REPOSITORY,
    USER_DIGEST,
    recorded,
    run_completed,
)

TAG = "v1.2.0"
NOTES = "## v1.2.0 (changes since v1.1.0)\n\n### Features\n\n- transfers between accounts (1a2b3c4)"


@pytest.fixture
def runtime(redis_url: str, github: FakeGitHub, tmp_path) -> Iterator[Runtime]:
    host = {"type": "github", "api_url": github.host.url, "token": TOKEN}
    repository = {"name": REPOSITORY, "url": "file:///x", "webhook_secret": "s" * 20}
    settings = Settings.model_validate(
        {
            "redis_url": redis_url,
            "workdir": str(tmp_path),
            "max_retries": 2,
            "repositories": [{**repository, "host": host}],
        }
    )
    made = Runtime(settings)
    yield made
    made.redis.close()


def released(client: redis.Redis, run_id: str = "run-release-1") -> RunCompleted:
    """A release run of TAG that deployed both services, as the store records it."""
    services = {
        "account-service": ServiceOutcome(
            status="succeeded", image=f"{REGISTRY}/account-service:{TAG}", digest=ACCOUNT_DIGEST
        ),
        "user-service": ServiceOutcome(
            status="succeeded", image=f"{REGISTRY}/user-service:{TAG}", digest=USER_DIGEST
        ),
    }
    summary = recorded(client, run_completed(run_id=run_id, **services))
    client.hset(
        DEFAULT_KEYSPACE.run(run_id),
        mapping={"release": TAG, "release_ref": f"refs/tags/{TAG}", "release_notes": NOTES},
    )
    return summary


def test_a_release_run_creates_one_release_with_its_notes_and_every_image_at_its_digest(
    runtime, github, redis_client
):
    make_handler(runtime)(released(redis_client))

    assert list(github.releases.store.releases) == [TAG]
    release = github.releases.store.releases[TAG]
    assert release.name == TAG
    assert release.body.startswith(NOTES)
    assert f"`{REGISTRY}/account-service:{TAG}@{ACCOUNT_DIGEST}`" in release.body
    assert f"`{REGISTRY}/user-service:{TAG}@{USER_DIGEST}`" in release.body
    run = runtime.runs.get("run-release-1")
    assert run is not None
    assert run.host_release == f"https://github.example/{REPOSITORY}/releases/tag/{TAG}"
    assert github.host.violations == []
    assert all(TOKEN not in str(e.json()) for e in github.host.exchanges if e.body)


def test_a_redelivered_summary_and_a_second_run_of_the_tag_update_the_same_release(
    runtime, github, redis_client
):
    handle = make_handler(runtime)
    first = released(redis_client, "run-release-1")
    handle(first)
    handle(first)  # the same RunCompleted delivered again
    handle(released(redis_client, "run-release-2"))  # the tag released a second time

    assert list(github.releases.store.releases) == [TAG]
    assert github.releases.store.releases[TAG].edits == 2
    methods = [method for method, path in github.host.operations() if "/releases" in path]
    assert methods.count("POST") == 1 and methods.count("PATCH") == 2
    second = runtime.runs.get("run-release-2")
    assert second is not None and second.host_release is not None
    assert second.host_release.endswith(f"/releases/tag/{TAG}")
    assert github.host.violations == []


def test_a_host_5xx_leaves_the_deploy_alone_is_recorded_and_retried_by_the_stage(
    runtime, github, redis_client
):
    summary = released(redis_client)
    github.host.scripted.append(Reply(502, {"message": "Server Error"}))
    runner = StageRunner(STAGE, runtime)

    with pytest.raises(RetryLater):
        runner.process(encode_event(summary), attempt=1)

    run = runtime.runs.get(summary.run_id)
    assert run is not None and run.host_release is not None
    assert run.host_release.startswith("failed: GitHub GET") and "HTTP 502" in run.host_release
    assert run.notified_at is not None  # the run's notifications went out regardless
    assert {s.status for s in run.services.values()} == {"succeeded"}
    assert redis_client.xlen(DEFAULT_KEYSPACE.events) == 0  # no failure published for the run
    assert github.releases.store.releases == {}

    runner.process(encode_event(summary), attempt=2)

    assert list(github.releases.store.releases) == [TAG]
    run = runtime.runs.get(summary.run_id)
    assert run is not None and run.host_release is not None
    assert run.host_release.startswith("https://github.example/")


def test_a_host_refusal_is_recorded_on_the_run_and_reported_as_the_stage_failure(
    runtime, github, redis_client
):
    summary = released(redis_client)
    github.host.scripted += [Reply(404, {"message": "Not Found"}), Reply(403, {"message": "nope"})]

    with pytest.raises(PermanentError, match=f"release {TAG} on the git host: .*HTTP 403"):
        make_handler(runtime)(summary)

    run = runtime.runs.get(summary.run_id)
    assert run is not None and run.notified_at is not None
    assert run.host_release is not None and "HTTP 403: nope" in run.host_release
    assert redis_client.llen(queue_name("notifier")) == 0


def test_a_run_that_is_no_release_makes_no_release(runtime, github, redis_client):
    make_handler(runtime)(recorded(redis_client, run_completed()))

    assert github.host.exchanges == []


def test_a_transient_failure_is_raised_for_the_stage_to_retry(runtime, github, redis_client):
    github.host.scripted.append(Reply(503, {"message": "unavailable"}))

    with pytest.raises(TransientError, match="HTTP 503"):
        make_handler(runtime)(released(redis_client))

# ruff: noqa: F811 (the fixtures imported from tests/githost/hosted_stack.py)
"""A promotion pull request open when Redis loses every key (FLUSHALL under a running
`shipline up`, nothing restarted): its record and its run went with the data. The
reconciler lists the open `shipline/promote-*` requests on the loopback GitHub (checked
against GitHub's published OpenAPI description), believes the one whose branch, commit and
images git shows to be Shipline's promotion, and a merge then lands, completes the run and
writes production's manifest once. A fork's request of the same branch name is never
taken for it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import git
import pytest

from services.common.keyspace import DEFAULT_KEYSPACE
from services.common.promotion_pulls import PromotionPulls
from services.devenv.registry import Registry
from tests.e2e.test_environments import overlay
from tests.e2e.test_promotion_pull_request import (
    BRANCH,
    awaiting_merge,
    closed_webhook,
    merge_on_the_remote,
    promote,
    schemas,  # noqa: F401 (fixture)
    with_environments,
)
from tests.githost.fake_github import FakeGitHub
from tests.githost.hosted_stack import github_description, github_host, hosted_by  # noqa: F401
from tests.githost.webhook_payloads import WebhookSchemas
from tests.stack import Stack, fresh_stack
from tests.workers import wait_until

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def quick_hosted_stack(
    tmp_path_factory: pytest.TempPathFactory,
    redis_url: str,
    docker_host: str,
    registry: Registry,
    base_image: str,
    trivy_path: Path,
    github_host: FakeGitHub,
) -> Iterator[Stack]:
    """The hosted stack, its reconciler passing every second."""
    root = tmp_path_factory.mktemp("hosted-recovery")
    hosted = hosted_by(github_host.host.url)

    def settings_of(sample):  # type: ignore[no-untyped-def]
        return {**hosted(sample), "reconciler": {"period_seconds": 1}}

    with fresh_stack(
        root, redis_url, docker_host, registry, base_image, trivy_path, settings_of
    ) as stack:
        yield stack


def test_a_pull_request_open_when_redis_is_wiped_is_found_again_and_its_merge_lands_once(
    quick_hosted_stack: Stack, github_host: FakeGitHub, schemas: WebhookSchemas
) -> None:
    stack, sample = quick_hosted_stack, quick_hosted_stack.sample
    image = with_environments(stack)["services"]["user-service"]["image"]
    run_id = promote(stack)
    awaiting_merge(stack, run_id)
    [pull] = github_host.store.open_pulls()
    with git.Repo(sample.remote) as repo:
        pull.head_sha = repo.commit(BRANCH).hexsha  # what GitHub reports as the head
    forged = github_host.store.add("Promote", "", BRANCH, "main")
    forged.fork = "mallory/shop"  # a fork's branch of Shipline's name, opened by anybody
    pulls = PromotionPulls(stack.redis, keys=DEFAULT_KEYSPACE)

    stack.redis.flushall()
    assert pulls.get(sample.name, pull.number) is None

    wait_until(lambda: pulls.get(sample.name, pull.number) is not None, 90, "the record")
    assert pulls.get(sample.name, pull.number).run_id == run_id  # type: ignore[union-attr]
    assert pulls.get(sample.name, forged.number) is None
    assert github_host.host.violations == []

    fork_merged = closed_webhook(stack, schemas, forged.number, merged=True, sha="e" * 40)
    assert fork_merged.status_code in (200, 202), fork_merged.text
    assert fork_merged.json().get("run_id") is None  # no promotion waits on the fork's
    merge = merge_on_the_remote(stack)
    github_host.store.merge(pull.number, merge)
    answered = closed_webhook(stack, schemas, pull.number, merged=True, sha=merge)
    assert answered.status_code == 202, answered.text
    assert answered.json() == {"run_id": run_id, "merged": True}

    run = stack.wait_for_run(run_id)
    assert run["status"] == "succeeded", run
    assert run["trigger"] == "recovered"  # its record went with the data: made again
    promoted_service = run["services"]["user-service"]
    assert (promoted_service["gitops_commit"], promoted_service["image"]) == (merge, image)
    assert f"image: {image}" in sample.remote_file(overlay("production", "user-service"))
    with git.Repo(sample.remote) as repo:
        promoted = [
            c for c in repo.iter_commits("main") if str(c.message).startswith("promote(production)")
        ]
    assert len(promoted) == 1

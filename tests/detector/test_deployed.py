"""What each service runs, read from the gitops branch's trailers: parsing, git and the cache."""

from __future__ import annotations

import uuid

import redis

from services.committer.messages import deploy_message, release_message, rollback_message
from services.committer.pins_file import PINS_FILE, render_pins
from services.common.events import Source
from services.common.git import CommitInfo
from services.common.pins import Pin
from services.detector.deployed import (
    DeployedCache,
    DeployedFrom,
    DeployedState,
    newest_trailers,
    read_state,
)
from tests.detector.conftest import BOT, NAME, Monorepo, deployment


def source(commit: str, repository: str = NAME) -> Source:
    return Source(repository=repository, commit=commit, ref="refs/heads/main")


def deploy(repo: Monorepo, service: str, commit: str, repository: str = NAME) -> str:
    """The committer's deploy commit of `service` built from `commit`, pushed."""
    image = f"127.0.0.1:5000/acme/{service}:sha-{commit[:7]}"
    sha = repo.commit(
        {f"k8s/manifests/{service}/deployment.yaml": deployment(service, image)},
        deploy_message(service, image, source(commit, repository)),
        author=BOT,
    )
    repo.push()
    return sha


def test_the_newest_trailer_of_each_service_wins_whatever_the_commit_kind():
    a, b, c = "a" * 40, "b" * 40, "c" * 40
    release = release_message(
        "v1.0.0", "", {"web": source(a), "user-service": source(a)}, uuid.uuid4()
    )
    rollback = rollback_message("web", "x:2", "x:1", "dana", uuid.uuid4(), source(b))
    newest_first = [
        CommitInfo("3" * 40, "bot@x", rollback),
        CommitInfo("2" * 40, "bot@x", deploy_message("user-service", "x:3", source(c))),
        CommitInfo("1" * 40, "bot@x", release),
    ]

    found = newest_trailers(newest_first)

    assert found == {
        "web": DeployedFrom(repository=NAME, commit=b),
        "user-service": DeployedFrom(repository=NAME, commit=c),
    }


def test_a_trailer_in_a_subject_or_body_that_is_not_a_whole_line_counts_for_nothing():
    message = f"fix: mention Shipline-Deployed: web {NAME}@{'a' * 40} in prose\n\nsee above"

    assert newest_trailers([CommitInfo("1" * 40, "dev@x", message)]) == {}


def test_a_service_deployed_last_by_another_repository_has_no_deployed_commit_here():
    state = DeployedState(
        head="1" * 40, services={"web": DeployedFrom(repository="acme/other", commit="a" * 40)}
    )

    assert state.commit_of(NAME, "web") is None
    assert state.commit_of("acme/other", "web") == "a" * 40


def test_the_gitops_branch_is_read_whole_then_from_the_cached_head_onwards(seeded: Monorepo):
    first = seeded.repo.head.commit.hexsha
    deploy(seeded, "web", first)
    deploy(seeded, "user-service", first)
    seeded.mirror.fetch()
    state = read_state(seeded.mirror, "main", None)
    seeded.commit({"web/src/index.html": "web v2\n"})
    newer = seeded.repo.head.commit.hexsha
    head = deploy(seeded, "web", newer)
    seeded.mirror.fetch()

    moved = read_state(seeded.mirror, "main", state)

    assert state.services.keys() == {"web", "user-service"}
    assert moved.head == head
    assert moved.commit_of(NAME, "web") == newer
    assert moved.commit_of(NAME, "user-service") == first
    assert moved == read_state(seeded.mirror, "main", None)  # the same as read whole


def test_a_rewritten_gitops_branch_is_read_whole_again(seeded: Monorepo):
    first = seeded.repo.head.commit.hexsha
    deploy(seeded, "web", first)
    seeded.mirror.fetch()
    stale = read_state(seeded.mirror, "main", None)
    seeded.repo.git.reset("--hard", first)
    seeded.commit({"README.md": "# rewritten\n"})
    seeded.push(force=True)
    seeded.mirror.fetch()

    state = read_state(seeded.mirror, "main", stale)

    assert state.services == {}


def test_a_missing_gitops_branch_records_nothing_deployed_and_no_pin(seeded: Monorepo):
    assert read_state(seeded.mirror, "gitops", None) == DeployedState(head="", pins_read=True)


def test_the_pins_file_is_read_at_the_gitops_head_even_for_a_state_cached_without_it(
    seeded: Monorepo,
):
    pin = Pin(NAME, "web", "127.0.0.1:5000/acme/web:old", "dana", "rb-1", 0.0)
    seeded.commit({PINS_FILE: render_pins([pin])}, "pin web", author=BOT)
    seeded.push()
    seeded.mirror.fetch()
    head = seeded.repo.head.commit.hexsha
    cached_before_pins = DeployedState(head=head)

    state = read_state(seeded.mirror, "main", cached_before_pins)

    assert state.pins_read and state.pinned == {NAME: ["web"]}
    assert state.is_pinned(NAME, "web") and not state.is_pinned(NAME, "user-service")
    assert DeployedState(head=head).is_pinned(NAME, "web") is None  # not read: not known


def test_the_cache_keeps_a_state_per_gitops_branch_and_a_broken_value_reads_as_none(
    redis_client: redis.Redis,
):
    cache = DeployedCache(redis_client)
    state = DeployedState(
        head="1" * 40, services={"web": DeployedFrom(repository=NAME, commit="a" * 40)}
    )

    cache.put("acme/gitops", "main", state)
    redis_client.set("shipline:detector:deployed:acme/gitops:prod", b"{not json")

    assert cache.get("acme/gitops", "main") == state
    assert cache.get("acme/gitops", "prod") is None
    assert cache.get("acme/gitops", "staging") is None

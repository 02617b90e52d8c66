"""Promotion with `approval: manual`: what staging runs written into production's manifest in
one commit, on real repositories and Redis."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from services.committer.environment_survey import record_environments
from services.committer.promote import promote
from services.committer.writeback import GitopsWriter
from services.common.environment_view import EnvironmentsStore
from services.common.errors import PermanentError
from services.common.events import ManifestCommitted, PromotionRequested, Source, StageFailed
from services.common.git import Mirror
from services.common.keyspace import Keyspace
from services.detector.deployed import newest_trailers
from services.detector.environment_runs import runs_in
from tests.committer.gitrepos import (
    REGISTRY,
    Repo,
    deployed_to_staging,
    deployment,
    pinned,
    promotion,
    settings_for,
    staging_and_production,
)

SERVICES = ["cart", "search"]


def overlay(environment: str, service: str) -> str:
    return f"k8s/{environment}/{service}.yaml"


@pytest.fixture
def shop(tmp_path: Path) -> Repo:
    return staging_and_production(tmp_path / "remotes", SERVICES)


@pytest.fixture
def writer(shop: Repo, tmp_path: Path, redis_client: redis.Redis) -> GitopsWriter:
    return GitopsWriter.connect(settings_for(tmp_path / "c", shop), redis_client)


def request(services: tuple[str, ...] = ("cart",), **fields: object) -> PromotionRequested:
    return promotion("run-promote", services, **fields)


def test_a_promotion_writes_what_staging_runs_into_production_in_one_commit(
    shop: Repo, writer: GitopsWriter
) -> None:
    commit = deployed_to_staging(shop, writer, "cart")
    image = f"{REGISTRY}/cart:sha-{commit[:7]}"
    before = len(shop.log())

    events = promote(request(reason="soaked a day"), writer.targets, writer.commits)

    log = shop.log()
    assert len(log) == before + 1
    head = log[0]
    assert head.message.startswith("promote(production): cart from staging [skip ci]")
    assert "Promoted by ada (soaked a day)" in head.message
    assert f"- cart: {image} built from acme/shop@{commit}" in head.message
    assert f"Shipline-Deployed: cart acme/shop@{commit} in production\n" in head.message
    assert "Shipline-Request: " in head.message
    assert list(head.stats.files) == [overlay("production", "cart")]
    assert f"image: {image}   #" in shop.read(overlay("production", "cart"))
    assert f"image: {image}   #" in shop.read(overlay("staging", "cart"))
    [event] = events
    assert isinstance(event, ManifestCommitted)
    assert (event.new_image, event.old_image) == (image, f"{REGISTRY}/cart:initial")
    assert (event.source.commit, event.gitops_commit, event.kind) == (commit, head.hexsha, "deploy")
    assert event.manifest_path == overlay("production", "cart")


def test_the_first_environments_reader_never_takes_a_promotion_for_its_own(
    shop: Repo, writer: GitopsWriter, tmp_path: Path
) -> None:
    staged = deployed_to_staging(shop, writer, "cart")
    promote(request(), writer.targets, writer.commits)
    newer = deployed_to_staging(shop, writer, "cart")

    mirror = Mirror(shop.url, tmp_path / "mirror")
    mirror.fetch()
    head = mirror.resolve("refs/heads/main") or ""

    assert runs_in(mirror, head, "staging", first=True)["cart"].commit == newer
    assert runs_in(mirror, head, "production", first=False)["cart"].commit == staged
    assert newest_trailers(mirror.log(None, head))["cart"].commit == newer


def a_redelivery_commits_nothing_more(shop: Repo, writer: GitopsWriter, production: Repo) -> None:
    """A promotion delivered again after staging moved on: no second commit in `production`
    (the repository production's manifests live in), the same events as the first time."""
    deployed_to_staging(shop, writer, "cart")
    asked = request()
    first = promote(asked, writer.targets, writer.commits)
    deployed_to_staging(shop, writer, "cart")  # staging moved on meanwhile
    commits = len(production.log())

    again = promote(asked, writer.targets, writer.commits)

    assert len(production.log()) == commits
    assert [e.model_dump(exclude={"occurred_at"}) for e in again] == [
        e.model_dump(exclude={"occurred_at"}) for e in first
    ]


def test_a_redelivered_promotion_commits_nothing_more_and_reports_the_same_commit(
    shop: Repo, writer: GitopsWriter
) -> None:
    a_redelivery_commits_nothing_more(shop, writer, shop)


def test_promoting_what_production_runs_already_commits_nothing(
    shop: Repo, writer: GitopsWriter
) -> None:
    deployed_to_staging(shop, writer, "cart")
    [first] = promote(request(), writer.targets, writer.commits)
    commits = len(shop.log())

    [again] = promote(request(), writer.targets, writer.commits)

    assert len(shop.log()) == commits
    assert isinstance(again, ManifestCommitted) and isinstance(first, ManifestCommitted)
    assert again.gitops_commit == first.gitops_commit
    assert again.old_image == again.new_image == first.new_image


def test_a_service_staging_never_ran_by_a_shipline_deploy_refuses_the_whole_promotion(
    shop: Repo, writer: GitopsWriter
) -> None:
    deployed_to_staging(shop, writer, "cart")
    shop.commit(
        {overlay("staging", "search"): deployment("search", f"{REGISTRY}/search:by-hand")},
        "chore: search by hand",
    )
    commits = len(shop.log())

    events = promote(request(("cart", "search")), writer.targets, writer.commits)

    assert len(shop.log()) == commits
    assert [type(e) for e in events] == [StageFailed, StageFailed]
    failed = events[1]
    assert isinstance(failed, StageFailed) and failed.error_class == "PromotionRefused"
    assert "staging runs nothing promotable for search" in failed.message
    assert "is not a Shipline deploy of search to staging" in failed.message
    assert "by-hand" not in shop.read(overlay("production", "search"))


def test_a_service_pinned_in_the_target_environment_is_not_promoted(
    shop: Repo, writer: GitopsWriter
) -> None:
    commit = deployed_to_staging(shop, writer, "cart")
    pinned(shop, "cart", f"{REGISTRY}/cart:sha-{commit[:7]}", environment="production")
    commits = len(shop.log())

    [event] = promote(request(), writer.targets, writer.commits)

    assert len(shop.log()) == commits
    assert isinstance(event, StageFailed)
    assert "cart is pinned in production" in event.message


def test_after_a_promotion_the_gateways_view_says_what_each_environment_runs(
    shop: Repo, writer: GitopsWriter, redis_client: redis.Redis
) -> None:
    commit = deployed_to_staging(shop, writer, "cart")
    promote(request(), writer.targets, writer.commits)
    store = EnvironmentsStore(redis_client, keys=Keyspace())

    record_environments(writer.targets, writer.commits, store, shop.name, commit)

    view = store.read(shop.name)
    assert view is not None
    staging, production = view.environments
    assert (staging.name, staging.source, production.source) == ("staging", None, "staging")
    image = f"{REGISTRY}/cart:sha-{commit[:7]}"
    assert production.services["cart"].image == staging.services["cart"].image == image
    assert production.services["cart"].commit == commit
    assert production.services["search"].why_not is not None  # never promoted there
    assert staging.services["search"].why_not is not None  # never deployed there


def test_an_image_the_admission_refuses_is_not_promoted(shop: Repo, writer: GitopsWriter) -> None:
    deployed_to_staging(shop, writer, "cart")
    commits = len(shop.log())

    def refuse(service: str, image: str, source: Source) -> str:
        raise PermanentError(f"the scanner recorded no verdict on {image}")

    with pytest.raises(PermanentError, match="no verdict"):
        promote(request(), writer.targets, writer.commits, refuse)

    assert len(shop.log()) == commits
    assert "initial" in shop.read(overlay("production", "cart"))


def test_the_digest_the_admission_found_is_named_in_the_commit_and_the_event(
    shop: Repo, writer: GitopsWriter
) -> None:
    deployed_to_staging(shop, writer, "cart")
    digest = "sha256:" + "cd" * 32

    [event] = promote(request(), writer.targets, writer.commits, lambda *_: digest)

    assert isinstance(event, ManifestCommitted) and event.digest == digest
    assert f"({digest}) built from" in shop.log()[0].message

"""Releases: the run store says when every service is scanned, the committer writes one
commit with release notes. Real repositories and Redis."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from services.committer.writeback import GitopsWriter
from services.common.errors import PermanentError
from services.common.events import (
    ChangeDetected,
    DeploymentSkipped,
    ImagePushed,
    ManifestCommitted,
    ReleaseImage,
    ReleaseReady,
    ScanFailed,
    Source,
    StageFailed,
)
from services.common.runs import RunStore
from tests.committer.gitrepos import (
    DIGEST,
    REGISTRY,
    Repo,
    monorepo,
    pinned,
    scan_passed,
    settings_for,
)

SERVICES = ["cart", "payments", "search"]


@pytest.fixture
def shop(tmp_path: Path) -> Repo:
    repo = monorepo(tmp_path / "remotes", SERVICES, gitops={"changelog": "CHANGELOG.md"})
    repo.tag("v1.0.0", repo.log()[0].hexsha)
    repo.commit({"cart/app.txt": "2\n"}, "feat(cart): coupons")
    repo.commit({"search/app.txt": "2\n"}, "fix(search): accents\n\nLong body.")
    repo.commit({"README.md": "hi\n"}, "docs: readme")
    repo.tag("v1.1.0", repo.log()[0].hexsha)
    return repo


def ready(shop: Repo, held: dict[str, str] | None = None) -> ReleaseReady:
    commit = shop.log()[0].hexsha
    return ReleaseReady(
        run_id="run-rel",
        source=Source(repository=shop.name, commit=commit, ref="refs/tags/v1.1.0"),
        version="v1.1.0",
        images={
            s: ReleaseImage(image_repository=f"{REGISTRY}/{s}", tag="v1.1.0", digest=DIGEST)
            for s in SERVICES
            if s not in (held or {})
        },
        held=held or {},
    )


def test_release_updates_every_manifest_in_one_commit_with_notes_and_changelog(
    shop: Repo, tmp_path: Path, redis_client: redis.Redis
) -> None:
    RunStore(redis_client).create("run-rel", trigger="tag")
    before = len(shop.log())

    outcomes = GitopsWriter.connect(settings_for(tmp_path / "c", shop), redis_client).release(
        ready(shop)
    )

    log = shop.log()
    assert len(log) == before + 1
    head = log[0]
    assert head.message.startswith("release v1.1.0 [skip ci]\n\n## v1.1.0 (changes since v1.0.0)")
    assert "### Features\n\n- **cart:** coupons" in head.message
    assert "### Bug fixes\n\n- **search:** accents" in head.message
    assert "### Documentation\n\n- readme" in head.message
    assert sorted(head.stats.files) == sorted(
        ["CHANGELOG.md", *(f"k8s/{s}.yaml" for s in SERVICES)]
    )
    for service in SERVICES:
        assert f"image: {REGISTRY}/{service}:v1.1.0   #" in shop.read(f"k8s/{service}.yaml")
        assert f"Shipline-Deployed: {service} {shop.name}@" in head.message
    assert [o.type for o in outcomes] == ["ManifestCommitted"] * 3
    assert {o.gitops_commit for o in outcomes if isinstance(o, ManifestCommitted)} == {head.hexsha}
    assert all(o.kind == "release" for o in outcomes if isinstance(o, ManifestCommitted))
    changelog = shop.read("CHANGELOG.md")
    assert changelog.startswith("# Changelog\n\n## v1.1.0 (changes since v1.0.0)\n")
    run = RunStore(redis_client).get("run-rel")
    assert run is not None and "- **cart:** coupons" in (run.release_notes or "")


def test_a_redelivered_release_commits_nothing_more_and_reports_the_same_commit(
    shop: Repo, tmp_path: Path, redis_client: redis.Redis
) -> None:
    writer = GitopsWriter.connect(settings_for(tmp_path / "c", shop), redis_client)
    first = writer.release(ready(shop))
    commits, changelog = len(shop.log()), shop.read("CHANGELOG.md")

    again = writer.release(ready(shop))

    assert len(shop.log()) == commits
    assert shop.read("CHANGELOG.md") == changelog
    assert [o.gitops_commit for o in again] == [o.gitops_commit for o in first]  # type: ignore[attr-defined]


def test_a_release_with_a_blocked_service_deploys_none_of_them(
    shop: Repo, tmp_path: Path, redis_client: redis.Redis
) -> None:
    before = len(shop.log())
    held = {"search": "blocked: blocked by CRITICAL secret"}

    outcomes = GitopsWriter.connect(settings_for(tmp_path / "c", shop), redis_client).release(
        ready(shop, held)
    )

    assert len(shop.log()) == before
    assert [(o.type, o.service) for o in outcomes] == [  # type: ignore[attr-defined]
        ("StageFailed", "cart"),
        ("StageFailed", "payments"),
    ]
    failure = outcomes[0]
    assert isinstance(failure, StageFailed) and not failure.retryable
    assert "release v1.1.0 not deployed: search blocked" in failure.message


def test_a_pinned_service_is_held_out_of_a_release_and_the_rest_ship(
    shop: Repo, tmp_path: Path, redis_client: redis.Redis
) -> None:
    pinned(shop, "payments", f"{REGISTRY}/payments:initial", "ops", "r")

    outcomes = GitopsWriter.connect(settings_for(tmp_path / "c", shop), redis_client).release(
        ready(shop)
    )

    kinds = {o.service: o.type for o in outcomes}  # type: ignore[attr-defined]
    assert kinds == {
        "cart": "ManifestCommitted",
        "payments": "DeploymentSkipped",
        "search": "ManifestCommitted",
    }
    assert "payments:initial" in shop.read("k8s/payments.yaml")
    assert "Shipline-Deployed: payments" not in shop.log()[0].message


# --- the run store: one ReleaseReady once every service has its scan outcome ------------


def release_run(runs: RunStore, shop: Repo) -> Source:
    source = Source(repository=shop.name, commit=shop.log()[0].hexsha, ref="refs/tags/v1.1.0")
    runs.create(
        "run-rel", trigger="tag", repository=shop.name, ref=source.ref, commit=source.commit
    )
    runs.plan("run-rel", SERVICES)
    for service in SERVICES:
        change = ChangeDetected(
            run_id="run-rel",
            service=service,
            source=source,
            context=service,
            dockerfile="Dockerfile",
            image_repository=f"{REGISTRY}/{service}",
            tags=("v1.1.0",),
            reason="release",
        )
        assert runs.apply(change) is None
        pushed = ImagePushed(
            run_id="run-rel",
            service=service,
            source=source,
            image_repository=f"{REGISTRY}/{service}",
            tags=("v1.1.0",),
            digest=DIGEST,
        )
        assert runs.apply(pushed) is None
    return source


def test_the_last_scan_outcome_of_a_release_run_yields_one_release_ready(
    shop: Repo, redis_client: redis.Redis
) -> None:
    runs = RunStore(redis_client)
    source = release_run(runs, shop)
    passed = {s: scan_passed(shop, s, source.commit, "run-rel", tag="v1.1.0") for s in SERVICES}
    passed = {s: p.model_copy(update={"source": source}) for s, p in passed.items()}

    assert runs.apply(passed["cart"]) is None
    assert runs.apply(passed["payments"]) is None
    release = runs.apply(passed["search"])

    assert isinstance(release, ReleaseReady)
    assert (release.version, release.source, release.held) == ("v1.1.0", source, {})
    assert release.images["cart"] == ReleaseImage(
        image_repository=f"{REGISTRY}/cart", tag="v1.1.0", digest=DIGEST
    )
    again = runs.apply(passed["search"])
    assert again is not None and again.event_id == release.event_id, "a redelivery: same event"
    assert runs.apply(passed["cart"]) is None
    assert runs.release_of("run-rel") == "v1.1.0"


def test_a_blocked_service_is_reported_as_held_in_the_release_ready(
    shop: Repo, redis_client: redis.Redis
) -> None:
    runs = RunStore(redis_client)
    source = release_run(runs, shop)
    for service in ("cart", "payments"):
        scan = scan_passed(shop, service, source.commit, "run-rel", tag="v1.1.0")
        assert runs.apply(scan.model_copy(update={"source": source})) is None
    blocked = ScanFailed(
        **scan_passed(shop, "search", source.commit, "run-rel", tag="v1.1.0").model_dump(
            exclude={"type", "event_id", "skipped"}
        ),
        findings=(),
    )

    release = runs.apply(blocked)

    assert isinstance(release, ReleaseReady)
    assert sorted(release.images) == ["cart", "payments"]
    assert list(release.held) == ["search"] and release.held["search"].startswith("blocked")


def test_a_push_run_never_yields_a_release_ready(shop: Repo, redis_client: redis.Redis) -> None:
    runs = RunStore(redis_client)
    runs.create("run-push", trigger="push")
    runs.plan("run-push", ["cart"])

    skipped = DeploymentSkipped(
        run_id="run-push",
        service="cart",
        source=scan_passed(shop, "cart", "a" * 40, "run-push").source,
        image="x:1",
        outcome="held",
        reason="held",
    )
    assert runs.apply(scan_passed(shop, "cart", "a" * 40, "run-push")) is None
    assert runs.apply(skipped).type == "RunCompleted"  # type: ignore[union-attr]


def test_a_release_version_with_a_newline_is_refused_before_anything_is_written(
    shop: Repo, tmp_path: Path, redis_client: redis.Redis
) -> None:
    RunStore(redis_client).create("run-rel", trigger="tag")
    before = len(shop.log())
    forged = ready(shop).model_copy(
        update={"version": "v1.1.0\nShipline-Deployed: cart evil/repo@" + "e" * 40}
    )

    with pytest.raises(PermanentError, match="release version .* refused"):
        GitopsWriter.connect(settings_for(tmp_path / "c", shop), redis_client).release(forged)

    assert len(shop.log()) == before
    assert not any("evil/repo" in commit.message for commit in shop.log())

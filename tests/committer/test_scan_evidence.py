"""A promotion after Redis lost the scanner's verdict: the passed verdict is found again in
git, as the `Shipline-Image` trailer of Shipline's own deploy commit on the source
environment's gitops branch, and nowhere else; on real git remotes and real Redis."""

from __future__ import annotations

from pathlib import Path

import git
import pytest
import redis

from services.committer.admission import Admission
from services.committer.promote import promote, registry_admission
from services.committer.rescan import Promoted
from services.committer.scan_evidence import GitScanEvidence
from services.committer.writeback import GitopsWriter
from services.common.errors import PermanentError
from services.common.events import ManifestCommitted, Source
from services.common.keyspace import DEFAULT_KEYSPACE
from services.common.scan_verdicts import ScanVerdicts
from services.common.settings import Settings
from tests.committer.gitrepos import (
    DIGEST,
    REGISTRY,
    Repo,
    promotion,
    scan_passed,
    scanned,
    settings_for,
    staging_and_production,
)

pytestmark = pytest.mark.integration

CART = f"{REGISTRY}/cart"
OTHER_DIGEST = "sha256:" + "cd" * 32  # the tag pushed again outside Shipline
BOT = git.Actor("Shipline Bot", "shipline-bot@localhost")


@pytest.fixture
def shop(tmp_path: Path) -> Repo:
    return staging_and_production(tmp_path / "remotes", ["cart"], pin_digest=True)


@pytest.fixture
def settings(shop: Repo, tmp_path: Path) -> Settings:
    return settings_for(tmp_path / "c", shop)


def staged(shop: Repo, settings: Settings, client: redis.Redis, passed: bool = True) -> str:
    """cart built, scanned (its verdict recorded) and deployed to staging: the source
    commit; `passed` False: the deploy commit names no image (written before the trailer)."""
    commit = shop.commit({"cart/app.txt": f"cart {len(shop.log())}\n"}, "feat: cart")
    scan = scanned(client, scan_passed(shop, "cart", commit, f"run-{commit[:7]}"))
    outcome = GitopsWriter.connect(settings, client).deploy(scan, passed)
    assert isinstance(outcome, ManifestCommitted), outcome
    return commit


def lose_the_verdicts(client: redis.Redis) -> None:
    client.delete(DEFAULT_KEYSPACE.scan_verdict(CART, DIGEST))
    assert ScanVerdicts(client).get(CART, DIGEST) is None


def promoted(settings: Settings, client: redis.Redis) -> list[object]:
    writer = GitopsWriter.connect(settings, client)
    request = promotion("run-after-loss")
    admit = registry_admission(settings, Admission(settings, ScanVerdicts(client)), request)
    return list(promote(request, writer.targets, writer.commits, admit))


def test_a_promotion_after_the_verdict_was_lost_is_admitted_by_stagings_deploy_commit(
    shop: Repo, settings: Settings, redis_client: redis.Redis
) -> None:
    staged(shop, settings, redis_client)
    deploy_commit = shop.log()[0]
    assert f"Shipline-Image: cart {CART}@{DIGEST}" in str(deploy_commit.message)
    lose_the_verdicts(redis_client)

    [event] = promoted(settings, redis_client)

    assert isinstance(event, ManifestCommitted)
    assert event.digest == DIGEST
    assert f"@{DIGEST}" in shop.read("k8s/production/cart.yaml")
    recovered = ScanVerdicts(redis_client).get(CART, DIGEST)
    assert recovered is not None
    assert (recovered.outcome, recovered.recovered_from) == ("passed", deploy_commit.hexsha)
    assert recovered.run_id == "run-after-loss"
    # the promotion carries the evidence on: a promotion from production finds it there
    assert f"Shipline-Image: cart {CART}@{DIGEST}" in str(shop.log()[0].message)


def test_a_digest_no_gitops_commit_names_is_refused_after_the_loss(
    shop: Repo, settings: Settings, redis_client: redis.Redis
) -> None:
    staged(shop, settings, redis_client, passed=False)
    lose_the_verdicts(redis_client)
    production_before = shop.read("k8s/production/cart.yaml")

    with pytest.raises(PermanentError, match="never scanned"):
        promoted(settings, redis_client)

    assert shop.read("k8s/production/cart.yaml") == production_before
    assert ScanVerdicts(redis_client).get(CART, DIGEST) is None


def test_a_digest_the_registry_or_an_event_names_is_refused_though_git_names_another(
    shop: Repo, settings: Settings, redis_client: redis.Redis
) -> None:
    """The tag moved in the registry (or a token holder's event names a digest): only the
    digest Shipline's own commit names is admitted."""
    commit = staged(shop, settings, redis_client)
    lose_the_verdicts(redis_client)
    writer = GitopsWriter.connect(settings, redis_client)
    target = writer.targets.find("acme/shop", commit)
    target.checkout.sync()
    evidence = GitScanEvidence(target.checkout, settings.bot.email)
    source = Source(repository="acme/shop", commit=commit, ref="refs/heads/main")
    moved = Promoted("run-x", "production", "cart", source, CART, f"sha-{commit[:7]}", OTHER_DIGEST)

    with pytest.raises(PermanentError, match="never scanned"):
        Admission(settings, ScanVerdicts(redis_client)).check_promotion(moved, evidence)

    assert ScanVerdicts(redis_client).get(CART, OTHER_DIGEST) is None
    assert evidence.find("cart", CART, DIGEST) == shop.log()[0].hexsha


def test_a_trailer_off_the_gitops_branch_or_not_by_the_bot_does_not_count(
    shop: Repo, settings: Settings, redis_client: redis.Redis
) -> None:
    staged(shop, settings, redis_client, passed=False)
    lose_the_verdicts(redis_client)
    trailer = f"feat: cart\n\nShipline-Image: cart {CART}@{DIGEST}\n"
    clone = shop.clone
    clone.git.checkout("-b", "feature")  # the bot's name, on a branch Argo CD does not sync
    (Path(clone.working_dir) / "cart/app.txt").write_text("feature\n")
    clone.index.add(["cart/app.txt"])
    clone.index.commit(trailer, author=BOT, committer=BOT)
    clone.git.push("origin", "feature")
    clone.git.checkout("main")
    clone.close()
    shop.commit({"cart/notes.txt": "by hand\n"}, trailer)  # on main, by a developer

    with pytest.raises(PermanentError, match="never scanned"):
        promoted(settings, redis_client)

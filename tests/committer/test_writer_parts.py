"""GitopsWriter handed its own parts: real git repositories, and in-memory stand-ins for
what it keeps in Redis (the gitops lock, the pins, the run facts), so no Redis is needed."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.committer.gitops_commit import GitopsCommits
from services.committer.lock import GitopsLock
from services.committer.targets import ConfiguredTargets, Target
from services.committer.writeback import GitopsWriter
from services.common.events import DeploymentSkipped, ManifestCommitted, RollbackRequested
from services.common.keyspace import Keyspace
from services.common.pins import Pin
from services.common.settings import BotIdentity, Settings
from tests.committer.gitrepos import (
    REGISTRY,
    Repo,
    monorepo,
    pinned,
    scan_passed,
    settings_for,
)

pytestmark = pytest.mark.integration  # real git, no Redis


class OpenLease:
    """A lock no other writer contends for (one process, one test)."""

    def acquire(self, *, blocking_timeout: float | None = None) -> bool:
        return True

    def reacquire(self) -> bool:
        return True

    def release(self) -> None:
        pass


class LocalLocks:
    def __init__(self) -> None:
        self.taken: list[str] = []

    def lock(
        self, name: str, timeout: float | None = None, *, thread_local: bool = True
    ) -> OpenLease:
        self.taken.append(name)
        return OpenLease()


class MemoryPins:
    """The pins' cache (git holds the pins themselves)."""

    def __init__(self) -> None:
        self.pins: dict[tuple[str, str], Pin] = {}

    def get(self, repository: str, service: str) -> Pin | None:
        return self.pins.get((repository, service))

    def put(self, pin: Pin) -> None:
        self.pins[(pin.repository, pin.service)] = pin

    def unpin(self, repository: str, service: str, environment: str = "") -> Pin | None:
        return self.pins.pop((repository, service), None)


class PushRuns:
    def trigger(self, run_id: str) -> str | None:
        return "push"

    def keep_release_notes(self, run_id: str, notes: str) -> None:
        pass


class CountingTargets(ConfiguredTargets):
    """The configured targets, keeping each write's target as it resolves it."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.found: list[Target] = []

    def find(self, repository: str, commit: str) -> Target:
        target = super().find(repository, commit)
        self.found.append(target)
        return target


@pytest.fixture
def shop(tmp_path: Path) -> Repo:
    return monorepo(tmp_path / "remotes", ["cart", "payments"])


@pytest.fixture
def locks() -> LocalLocks:
    return LocalLocks()


@pytest.fixture
def pins() -> MemoryPins:
    return MemoryPins()


@pytest.fixture
def targets(shop: Repo, tmp_path: Path) -> CountingTargets:
    return CountingTargets(settings_for(tmp_path / "committer", shop))


@pytest.fixture
def writer(targets: CountingTargets, locks: LocalLocks, pins: MemoryPins) -> GitopsWriter:
    commits = GitopsCommits(GitopsLock(locks, wait=5, keys=Keyspace("team-a")), BotIdentity())
    return GitopsWriter(targets=targets, commits=commits, pins=pins, runs=PushRuns())


def test_a_writer_handed_its_own_lock_and_stores_commits_a_deploy_without_redis(
    shop: Repo, writer: GitopsWriter, targets: CountingTargets, locks: LocalLocks
) -> None:
    commit = shop.commit({"cart/app.txt": "cart v2\n"}, "feat(cart): coupons")

    outcome = writer.deploy(scan_passed(shop, "cart", commit, "run-1"))

    assert isinstance(outcome, ManifestCommitted)
    assert outcome.gitops_commit == shop.log()[0].hexsha
    assert f"image: {REGISTRY}/cart:sha-{commit[:7]}   #" in shop.read("k8s/cart.yaml")
    assert [t.commit for t in targets.found] == [commit]
    assert locks.taken == ["team-a:lock:gitops:acme/shop:main"]  # under its namespace


def test_a_pin_in_git_holds_an_automatic_deploy_and_is_cached_in_the_handed_pin_store(
    shop: Repo, writer: GitopsWriter, pins: MemoryPins
) -> None:
    pinned(shop, "cart", f"{REGISTRY}/cart:initial", "ops@example.com", "run-rb")
    commit = shop.commit({"cart/app.txt": "cart v2\n"}, "feat(cart): coupons")
    commits = len(shop.log())

    outcome = writer.deploy(scan_passed(shop, "cart", commit, "run-1"))

    assert isinstance(outcome, DeploymentSkipped)
    assert outcome.outcome == "held" and "ops@example.com" in outcome.reason
    assert len(shop.log()) == commits
    cached = pins.get(shop.name, "cart")
    assert cached is not None and cached.image == f"{REGISTRY}/cart:initial"


def test_a_rollback_pins_the_service_in_the_handed_pin_store(
    shop: Repo, writer: GitopsWriter, pins: MemoryPins
) -> None:
    first = shop.commit({"cart/app.txt": "cart v2\n"}, "feat(cart): one")
    writer.deploy(scan_passed(shop, "cart", first, "run-1"))
    second = shop.commit({"cart/app.txt": "cart v3\n"}, "feat(cart): two")
    writer.deploy(scan_passed(shop, "cart", second, "run-2"))

    committed = writer.rollback(
        RollbackRequested(
            run_id="run-rb", service="cart", repository=shop.name, requested_by="api-token-1"
        )
    )

    assert committed.new_image == f"{REGISTRY}/cart:sha-{first[:7]}"
    pin = pins.get(shop.name, "cart")
    assert pin is not None and (pin.image, pin.by) == (committed.new_image, "api-token-1")

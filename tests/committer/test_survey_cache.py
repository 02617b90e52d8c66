"""The survey reads the gitops branch's Shipline-Deployed trailers through the detector's
cache (DeployedCache): from the head it read last onwards, on real git and Redis; whole
when there is no cache, when Redis is unreachable, and after a force push."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from services.committer.survey import resurvey, survey
from services.common.project import PROJECT_FILE, parse_project
from services.common.service_inventory import InventoryStore, Survey
from services.detector.deployed import DeployedCache, deployed_now
from tests.committer.gitrepos import Repo, monorepo, settings_for
from tests.gitops_reads import trailer_reads as count_trailer_reads

pytestmark = pytest.mark.integration  # real git repositories and Redis


def _deployed(repo_name: str, deployed: dict[str, str]) -> str:
    trailers = "\n".join(f"Shipline-Deployed: {s} {repo_name}@{c}" for s, c in deployed.items())
    return f"chore: deploy [skip ci]\n\n{trailers}\n"


def _rows(found: Survey) -> dict[str, tuple[str | None, str | None, int | None]]:
    return {
        row.service: (row.deployed_commit, row.desired_commit, row.behind_by)
        for row in found.services
    }


@pytest.fixture
def trailer_reads(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    return count_trailer_reads(monkeypatch)


def _shop(root: Path) -> tuple[Repo, str]:
    shop = monorepo(root, ["cart", "payments"])
    base = shop.commit({"cart/app.txt": "cart 1\n"}, "feat(cart): one")
    shop.commit({}, _deployed(shop.name, {"cart": base, "payments": base}))
    return shop, base


def test_a_second_survey_reads_only_the_gitops_commits_since_the_first(
    tmp_path: Path, redis_client: redis.Redis, trailer_reads: list[str | None]
) -> None:
    shop, base = _shop(tmp_path / "remotes")
    settings = settings_for(tmp_path / "w", shop)
    cache = DeployedCache(redis_client)
    first = survey(settings, settings.repositories[0], cache)
    first_head = first.services[0].gitops_commit
    newer = shop.commit({"cart/app.txt": "cart 2\n"}, "feat(cart): two")
    shop.commit({}, _deployed(shop.name, {"cart": newer}))
    head = shop.commit({"payments/app.txt": "payments 2\n"}, "feat(payments): two")

    second = survey(settings, settings.repositories[0], cache)

    assert trailer_reads == [None, first_head]  # whole once, then onwards from the first head
    cached = cache.get(shop.name, "main")
    assert cached is not None and cached.head == second.services[0].gitops_commit
    assert _rows(second) == {"cart": (newer, newer, 0), "payments": (base, head, 1)}
    assert _rows(second) == _rows(survey(settings, settings.repositories[0]))  # a whole read


def test_a_survey_at_the_head_the_detector_cached_reads_no_trailers_at_all(
    tmp_path: Path, redis_client: redis.Redis, trailer_reads: list[str | None]
) -> None:
    shop, base = _shop(tmp_path / "remotes")
    settings = settings_for(tmp_path / "w", shop)
    cache = DeployedCache(redis_client)
    project = parse_project(shop.read(PROJECT_FILE))
    deployed_now(settings, settings.repositories[0], project, cache, source_fetched=False)

    again = survey(settings, settings.repositories[0], cache)

    assert trailer_reads == [None]
    assert _rows(again) == {"cart": (base, base, 0), "payments": (base, base, 0)}


def test_a_force_pushed_gitops_branch_is_read_whole_and_answers_what_it_now_says(
    tmp_path: Path, redis_client: redis.Redis, trailer_reads: list[str | None]
) -> None:
    shop, base = _shop(tmp_path / "remotes")
    settings = settings_for(tmp_path / "w", shop)
    cache = DeployedCache(redis_client)
    survey(settings, settings.repositories[0], cache)
    newer = shop.commit({"cart/app.txt": "cart 2\n"}, "feat(cart): two")
    shop.commit({}, _deployed(shop.name, {"cart": newer}))
    survey(settings, settings.repositories[0], cache)  # the cache holds cart at `newer`
    shop.clone.git.reset("--hard", newer)  # the deploy of `newer` dropped by a force push
    shop.clone.git.commit("--allow-empty", "-m", _deployed(shop.name, {"payments": newer}))
    shop.clone.git.push("--force", "origin", "HEAD:refs/heads/main")
    forced = shop.clone.head.commit.hexsha
    shop.clone.close()

    found = survey(settings, settings.repositories[0], cache)

    assert trailer_reads[-1] is None  # the cached head is no ancestor: the whole branch
    assert _rows(found) == {"cart": (base, forced, 1), "payments": (newer, newer, 0)}
    assert _rows(found) == _rows(survey(settings, settings.repositories[0]))


def test_with_redis_unreachable_the_survey_reads_the_whole_branch_and_is_recorded_whole(
    tmp_path: Path, redis_client: redis.Redis, trailer_reads: list[str | None]
) -> None:
    shop, base = _shop(tmp_path / "remotes")
    settings = settings_for(tmp_path / "w", shop)
    gone = redis.Redis(port=1, retry=Retry(NoBackoff(), 0))  # nothing listens on port 1

    found = resurvey(
        settings, InventoryStore(redis_client), shop.name, deployed=DeployedCache(gone)
    )

    assert found is not None and found.error is None
    assert trailer_reads == [None]
    assert _rows(found) == {"cart": (base, base, 0), "payments": (base, base, 0)}
    assert InventoryStore(redis_client).read(shop.name) == found

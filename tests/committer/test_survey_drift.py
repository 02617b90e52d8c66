"""The survey's drift columns on real git: the commit each service runs (the gitops
branch's Shipline-Deployed trailers), the commit a build brings it to, and how many commits
since change it."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.committer.survey import survey
from services.common.service_inventory import Survey
from tests.committer.gitrepos import REGISTRY, deployment, monorepo, settings_for

pytestmark = pytest.mark.integration  # real git repositories


def _deployed(repo_name: str, deployed: dict[str, str]) -> str:
    trailers = "\n".join(f"Shipline-Deployed: {s} {repo_name}@{c}" for s, c in deployed.items())
    return f"chore: deploy [skip ci]\n\n{trailers}\n"


def _rows(found: Survey) -> dict[str, tuple[str | None, str | None, int | None]]:
    return {
        row.service: (row.deployed_commit, row.desired_commit, row.behind_by)
        for row in found.services
    }


def test_a_service_changed_since_its_deployed_commit_is_behind_by_the_commits_changing_it(
    tmp_path: Path,
) -> None:
    shop = monorepo(tmp_path / "remotes", ["cart", "payments", "search"])
    base = shop.commit({"cart/app.txt": "cart 1\n"}, "feat(cart): one")
    manifests = {
        f"k8s/{s}.yaml": deployment(s, f"{REGISTRY}/{s}:sha-{base[:7]}")
        for s in ("cart", "payments")
    }
    shop.commit(manifests, _deployed(shop.name, {"cart": base, "payments": base}))
    shop.commit({"cart/app.txt": "cart 2\n"}, "feat(cart): two")
    shop.commit({"search/app.txt": "search 2\n"}, "feat(search): only search")
    head = shop.commit({"cart/more.txt": "more\n"}, "feat(cart): three")

    rows = _rows(survey(settings_for(tmp_path / "w", shop), shop_repo(shop)))

    assert rows["cart"] == (base, head, 2)
    assert rows["payments"] == (base, base, 0)  # nothing changed it: in sync
    assert rows["search"] == (None, None, None)  # no trailer names it: unknown


def test_a_change_made_and_reverted_since_the_deploy_leaves_the_service_in_sync(
    tmp_path: Path,
) -> None:
    shop = monorepo(tmp_path / "remotes", ["cart"])
    base = shop.commit({"cart/app.txt": "cart 1\n"}, "feat(cart): one")
    shop.commit({}, _deployed(shop.name, {"cart": base}))
    shop.commit({"cart/app.txt": "cart 2\n"}, "feat(cart): two")
    shop.commit({"cart/app.txt": "cart 1\n"}, "revert: two")

    rows = _rows(survey(settings_for(tmp_path / "w", shop), shop_repo(shop)))

    assert rows["cart"] == (base, base, 0)


def test_a_global_path_or_the_services_own_entry_counts_as_a_change_to_it(
    tmp_path: Path,
) -> None:
    shop = monorepo(tmp_path / "remotes", ["cart", "payments"], global_paths=["lib/"])
    base = shop.commit({"cart/app.txt": "cart 1\n"}, "feat(cart): one")
    shop.commit({}, _deployed(shop.name, {"cart": base, "payments": base}))
    shop.commit({"lib/util.txt": "shared\n"}, "feat(lib): shared code")
    project = shop.read("shipline.yaml").replace(
        "path: payments/", "path: payments/\n    build_args: {A: '1'}"
    )
    head = shop.commit({"shipline.yaml": project}, "chore(payments): a build arg")

    rows = _rows(survey(settings_for(tmp_path / "w", shop), shop_repo(shop)))

    assert rows["cart"] == (base, head, 1)
    assert rows["payments"] == (base, head, 2)


def shop_repo(shop):  # the configured repository of the same name
    return settings_for(Path("/nonexistent"), shop).repositories[0]


def test_a_deployed_commit_git_does_not_hold_leaves_the_drift_unknown_and_the_survey_whole(
    tmp_path: Path,
) -> None:
    shop = monorepo(tmp_path / "remotes", ["cart", "payments"])
    base = shop.commit({"cart/app.txt": "cart 1\n"}, "feat(cart): one")
    gone = "f" * 40  # deployed from a commit a force push dropped, collected since
    shop.commit({}, _deployed(shop.name, {"cart": gone, "payments": base}))

    found = survey(settings_for(tmp_path / "w", shop), shop_repo(shop))

    assert found.error is None
    assert _rows(found) == {"cart": (gone, None, None), "payments": (base, base, 0)}
    assert {row.image for row in found.services} == {
        f"{REGISTRY}/cart:initial",
        f"{REGISTRY}/payments:initial",
    }

"""An auto-promotion soaking when Redis loses its data (FLUSHALL under a running `shipline
up`, nothing restarted): the soaking entry went with the data, and the landing's events
too. The reconciler reads git again (staging's manifest holds an image, landed by a
Shipline deploy at a known time, that production's does not) and production gets it after
its soak, counted from the landing's commit, once."""

from __future__ import annotations

import json
import time
from typing import Any

import git
import pytest

from services.common.keyspace import DEFAULT_KEYSPACE
from tests.e2e.test_auto_promotion import production_image
from tests.e2e.test_environments import commit_and_push, split_by_environment
from tests.stack import Stack, sample_stack
from tests.workers import wait_until

pytestmark = pytest.mark.integration

SOAK = 12
SOAKING = f"""\
environments:
  - name: staging
  - name: production
    from: staging
    approval: auto
    soak_seconds: {SOAK}
"""

# the reconciler passing every second; its sweeps from git every 300 s (the default): only
# the wipe makes them read git at once
wiped_stack = sample_stack(
    "auto-promotion-wipe", lambda sample: {"reconciler": {"period_seconds": 1}}
)


def promotion_commits(stack: Stack, image: str) -> list[str]:
    """The commits of the sample's gitops branch promoting `image` to production."""
    with git.Repo(stack.sample.remote) as repo:
        return [
            commit.hexsha
            for commit in repo.iter_commits("main")
            if str(commit.message).startswith("promote(production):")
            and image in str(commit.message)
        ]


def soaking_in_staging(stack: Stack, soak_note: str) -> tuple[str, str]:
    """A change deployed to staging, its promotion to production soaking: (image, landing)."""
    change = stack.sample.append("user_service/app.txt", soak_note, f"feat(user): {soak_note}")
    staged = stack.deploy(change)
    soaking = DEFAULT_KEYSPACE.auto_promotions_due
    wait_until(lambda: stack.redis.zcard(soaking) > 0, 30, "the promotion to soak")
    service = staged["services"]["user-service"]
    return service["image"], service["gitops_commit"]


def lose_all_but_scan_verdicts(stack: Stack) -> None:
    """Every key goes but the scanner's verdicts (what the committer admits an image by)."""
    kept = {
        key: stack.redis.dump(key)
        for key in stack.redis.scan_iter(match=DEFAULT_KEYSPACE.scan_verdict("*", "*"))
    }
    assert kept
    stack.redis.flushall()
    for key, value in kept.items():
        stack.redis.restore(key, 0, value)


def without_evidence(stack: Stack, landed: str) -> str:
    """Staging's deploy commit `landed` (the head) rewritten without its `Shipline-Image`
    trailer, as the bot wrote it before the trailer existed (same author, dates, tree):
    the new sha, swapped in only if the head is still `landed`."""
    with git.Repo(stack.sample.remote) as repo:
        commit = repo.commit(landed)
        message = "".join(
            line
            for line in str(commit.message).splitlines(keepends=True)
            if not line.startswith("Shipline-Image:")
        )
        env = {
            "GIT_AUTHOR_NAME": commit.author.name or "",
            "GIT_AUTHOR_EMAIL": commit.author.email or "",
            "GIT_AUTHOR_DATE": f"{commit.authored_date} +0000",
            "GIT_COMMITTER_NAME": commit.committer.name or "",
            "GIT_COMMITTER_EMAIL": commit.committer.email or "",
            "GIT_COMMITTER_DATE": f"{commit.committed_date} +0000",
        }
        parents = [arg for parent in commit.parents for arg in ("-p", parent.hexsha)]
        with repo.git.custom_environment(**env):
            rewritten = str(repo.git.commit_tree(commit.tree.hexsha, *parents, "-m", message))
        repo.git.update_ref("refs/heads/main", rewritten, landed)
    assert rewritten != landed
    return rewritten


def auto_run(stack: Stack) -> dict[str, Any] | None:
    """The one automatic promotion run the store knows (the wipe took the others)."""
    runs = stack.get("/api/v1/runs?limit=100", timeout=5).json()["runs"]
    found = [run for run in runs if run["run_id"].startswith("auto-")]
    assert len(found) <= 1, found
    return found[0] if found else None


def test_production_gets_an_image_whose_soak_redis_lost_after_the_soak_once(
    wiped_stack: Stack,
) -> None:
    stack = wiped_stack
    push = commit_and_push(
        stack, split_by_environment(stack.sample, SOAKING), "chore: production soaks"
    )
    first = stack.deploy(push)["services"]["user-service"]["image"]
    assert production_image(stack, first, timeout=SOAK + 90) is not None
    due = DEFAULT_KEYSPACE.auto_promotions_due
    wait_until(lambda: stack.redis.zcard(due) == 0, 60, "the first promotions to start")
    image, landed = soaking_in_staging(stack, "Soaking, then lost.")

    lose_all_but_scan_verdicts(stack)

    assert production_image(stack, image, timeout=SOAK + 90) is not None
    with git.Repo(stack.sample.remote) as repo:
        landed_at = repo.commit(landed).committed_date
        [promoted] = promotion_commits(stack, image)
        assert repo.commit(promoted).committed_date - landed_at >= SOAK - 1
    time.sleep(3)  # the next passes promote nothing again
    assert len(promotion_commits(stack, image)) == 1


def test_after_a_flushall_production_gets_the_image_once_by_its_scan_verdict_found_in_git(
    wiped_stack: Stack,
) -> None:
    """Nothing kept, the scanner's verdicts neither: staging's deploy commit names the digest
    it admitted (`Shipline-Image`), and the promotion is admitted by that evidence."""
    stack = wiped_stack
    image, landed = soaking_in_staging(stack, "Soaking, then flushed.")
    with git.Repo(stack.sample.remote) as repo:
        assert "\nShipline-Image: user-service " in str(repo.commit(landed).message)

    stack.redis.flushall()

    assert production_image(stack, image, timeout=SOAK + 90) is not None
    run = stack.wait_for_run(auto_run(stack)["run_id"])  # type: ignore[index]
    assert run["status"] != "failed", run
    recovered = [
        json.loads(stack.redis.get(key) or b"{}")
        for key in stack.redis.scan_iter(match=DEFAULT_KEYSPACE.scan_verdict("*", "*"))
    ]
    assert [v["recovered_from"] for v in recovered if v.get("recovered_from")] == [landed]
    time.sleep(3)  # the next passes promote nothing again
    assert len(promotion_commits(stack, image)) == 1


def test_after_a_flushall_a_digest_no_gitops_commit_names_is_refused(
    wiped_stack: Stack,
) -> None:
    """The same loss, staging's deploy commit rewritten without its evidence (as a commit
    written before the trailer existed): the promotion is asked again and refused."""
    stack = wiped_stack
    image, landed = soaking_in_staging(stack, "Soaking, then flushed, no evidence.")
    without_evidence(stack, landed)

    stack.redis.flushall()

    wait_until(lambda: auto_run(stack) is not None, SOAK + 90, "the promotion")
    run = stack.wait_for_run(auto_run(stack)["run_id"])  # type: ignore[index]
    assert run["status"] == "failed", run
    assert "never scanned" in json.dumps(run), run
    assert promotion_commits(stack, image) == []

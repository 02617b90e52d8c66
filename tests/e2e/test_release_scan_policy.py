"""A release tag into the `releases: true` environment under that environment's own scan
policy, through the running stack: account-service allows secrets (its `scan:`), so its
image with a leaked key runs in staging; production takes release tags and its `scan:` does
not allow secrets, so the release is blocked whole: account-service `blocked` with the
findings, every other service failed naming it, no release commit, production unchanged."""

from __future__ import annotations

import git

from services.common.events import ZERO_SHA
from services.demo.scenario import Push
from tests.e2e.leaked_staging import stage_a_leaked_account_service
from tests.e2e.test_environments import overlay
from tests.stack import Stack

ENVIRONMENTS = [
    {"name": "staging"},
    {
        "name": "production",
        "from": "staging",
        "releases": True,
        "scan": {"allow_secrets": False},
    },
]


def test_a_release_production_s_scan_policy_blocks_is_not_deployed_anywhere_in_it(
    stack: Stack,
) -> None:
    sample = stack.sample
    staging = stage_a_leaked_account_service(stack, ENVIRONMENTS)
    before, leak = staging.manifests, staging.leak
    production = {name: sample.remote_file(overlay("production", name)) for name in before}
    with git.Repo(sample.clone) as repo:
        repo.git.tag("-a", "v3.0.0", "-m", "release 3.0.0")
        repo.git.push("origin", "refs/tags/v3.0.0")
        tag_object = repo.git.rev_parse("v3.0.0")
    head = sample.remote_head().hexsha

    response = stack.push_webhook(Push(ZERO_SHA, tag_object, "refs/tags/v3.0.0"))

    assert response.status_code == 202, response.text
    run = stack.wait_for_run(response.json()["run_id"], timeout=400)
    assert run["status"] in ("failed", "blocked"), run
    blocked = run["services"]["account-service"]
    assert blocked["status"] == "blocked", run
    assert "aws-access-key-id" in blocked["reason"], blocked
    assert "secrets always block" in blocked["reason"], blocked
    for name in set(before) - {"account-service"}:
        other = run["services"][name]
        assert other["status"] == "failed", run
        assert "account-service is blocked by production's scan policy" in other["reason"]
    assert leak.split("=")[1].split()[0] not in str(run)  # the key itself never shown
    assert sample.remote_head().hexsha == head  # no release commit
    for name, text in production.items():
        assert sample.remote_file(overlay("production", name)) == text

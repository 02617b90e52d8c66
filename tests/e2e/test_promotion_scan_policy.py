"""Promotion under the target's own scan policy through the running stack: account-service
allows secrets (its `scan:`), so staging runs its image with a leaked key; production's
`scan:` does not, so promoting it ends `blocked` with the findings and production's manifest
is unchanged, while a clean image promoted under the same stricter policy goes through."""

from __future__ import annotations

import httpx

from tests.e2e.leaked_staging import stage_a_leaked_account_service
from tests.e2e.test_environments import overlay
from tests.stack import Stack

ENVIRONMENTS = [
    {"name": "staging"},
    {"name": "production", "from": "staging", "scan": {"allow_secrets": False}},
]


def test_production_s_scan_policy_blocks_what_staging_allowed_and_passes_a_clean_image(
    stack: Stack,
) -> None:
    sample = stack.sample
    staging = stage_a_leaked_account_service(stack, ENVIRONMENTS)
    staged, leak = staging.staged, staging.leak
    production = sample.remote_file(overlay("production", "account-service"))

    asked = httpx.post(
        f"{stack.api}/api/v1/promotions",
        json={"service": "account-service", "to": "production"},
        headers=stack.auth,
        timeout=10,
    )

    assert asked.status_code == 202, asked.text
    run = stack.wait_for_run(asked.json()["run_id"])
    assert run["status"] == "blocked", run
    blocked = run["services"]["account-service"]
    assert blocked["status"] == "blocked"
    assert "aws-access-key-id" in blocked["reason"], blocked
    assert "secrets always block" in blocked["reason"]
    assert leak.split("=")[1].split()[0] not in str(run)  # the key itself never shown
    assert sample.remote_file(overlay("production", "account-service")) == production

    clean = httpx.post(
        f"{stack.api}/api/v1/promotions",
        json={"service": "user-service", "to": "production"},
        headers=stack.auth,
        timeout=10,
    )

    assert clean.status_code == 202, clean.text
    promoted = stack.wait_for_run(clean.json()["run_id"])
    assert promoted["status"] == "succeeded", promoted
    image = staged["services"]["user-service"]["image"]
    assert f"image: {image}" in sample.remote_file(overlay("production", "user-service"))

"""Promotion under the target's own scan policy through the running stack: account-service
allows secrets (its `scan:`), so staging runs its image with a leaked key; production's
`scan:` does not, so promoting it ends `blocked` with the findings and production's manifest
is unchanged, while a clean image promoted under the same stricter policy goes through."""

from __future__ import annotations

import secrets
import string

import httpx
import yaml

from tests.e2e.test_environments import commit_and_push, overlay
from tests.stack import Stack

ENVIRONMENTS = [
    {"name": "staging"},
    {"name": "production", "from": "staging", "scan": {"allow_secrets": False}},
]


def leaked_aws_key() -> str:
    key_id = "AKIA" + "".join(secrets.choice(string.ascii_uppercase + "234567") for _ in range(16))
    secret = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(40))
    return f"AWS_ACCESS_KEY_ID={key_id}\naws_secret_access_key = {secret}\n"


def test_production_s_scan_policy_blocks_what_staging_allowed_and_passes_a_clean_image(
    stack: Stack,
) -> None:
    sample = stack.sample
    config = yaml.safe_load(sample.remote_file("shipline.yaml"))
    before = {}
    for name, service in config["services"].items():
        before[name] = sample.remote_file(service["manifest"])
        service["manifest"] = "k8s/overlays/{environment}/" + f"{name}.yaml"
    config["services"]["account-service"]["scan"] = {"allow_secrets": True}
    config["environments"] = ENVIRONMENTS
    files = {
        overlay(env, name): text
        for env in ("staging", "production")
        for name, text in before.items()
    }
    files["shipline.yaml"] = yaml.safe_dump(config, sort_keys=False)
    leak = leaked_aws_key()
    files["account_service/app.txt"] = sample.remote_file("account_service/app.txt") + leak
    staged = stack.deploy(commit_and_push(stack, files, "chore: staging and production"))
    assert staged["services"]["account-service"]["status"] == "succeeded"  # allowed there
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

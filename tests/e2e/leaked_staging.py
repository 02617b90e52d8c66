"""The setup both scan-policy journeys share: every service's manifest moved to a per-
environment overlay, account-service allowed secrets by its own `scan:`, and a leaked AWS key
committed into it, deployed to staging (where it is allowed) before production's stricter
policy is asked."""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from typing import Any

import yaml

from tests.e2e.test_environments import commit_and_push, overlay
from tests.stack import Stack


def leaked_aws_key() -> str:
    key_id = "AKIA" + "".join(secrets.choice(string.ascii_uppercase + "234567") for _ in range(16))
    secret = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(40))
    return f"AWS_ACCESS_KEY_ID={key_id}\naws_secret_access_key = {secret}\n"


@dataclass(frozen=True)
class LeakedStaging:
    staged: dict[str, Any]  # the staging run that deployed the leaked image
    manifests: dict[str, str]  # each service's manifest before it was split per environment
    leak: str  # the leaked key lines, so a test can check they are never shown


def stage_a_leaked_account_service(
    stack: Stack, environments: list[dict[str, Any]]
) -> LeakedStaging:
    sample = stack.sample
    config = yaml.safe_load(sample.remote_file("shipline.yaml"))
    manifests = {}
    for name, service in config["services"].items():
        manifests[name] = sample.remote_file(service["manifest"])
        service["manifest"] = "k8s/overlays/{environment}/" + f"{name}.yaml"
    config["services"]["account-service"]["scan"] = {"allow_secrets": True}
    config["environments"] = environments
    files = {
        overlay(env, name): text
        for env in ("staging", "production")
        for name, text in manifests.items()
    }
    files["shipline.yaml"] = yaml.safe_dump(config, sort_keys=False)
    leak = leaked_aws_key()
    files["account_service/app.txt"] = sample.remote_file("account_service/app.txt") + leak
    staged = stack.deploy(commit_and_push(stack, files, "chore: staging and production"))
    assert staged["services"]["account-service"]["status"] == "succeeded"  # allowed there
    return LeakedStaging(staged, manifests, leak)

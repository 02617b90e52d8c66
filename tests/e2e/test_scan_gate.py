"""The scan gate in a running Shipline: a blocked image explained through the API with its
reports, then deployed anyway through an explicit, recorded emergency bypass."""

from __future__ import annotations

import json
import os
import secrets
import string
import subprocess
import sys
from typing import Any

import httpx

from services.common.events import ImagePushed, ScanBypass, Source
from tests.stack import API_TOKEN, Stack


def leaked_aws_key() -> tuple[str, str]:
    key_id = "AKIA" + "".join(secrets.choice(string.ascii_uppercase + "234567") for _ in range(16))
    secret = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(40))
    return key_id, secret


def publish(stack: Stack, event: ImagePushed) -> None:
    """`shipline publish`, as an operator runs it: through the API, with a token."""
    env = {**os.environ, "SHIPLINE_URL": stack.api, "SHIPLINE_TOKEN": API_TOKEN}
    env.pop("SHIPLINE_CONFIG", None)
    completed = subprocess.run(
        [sys.executable, "-m", "services.cli", "publish", "-"],
        input=event.model_dump_json().encode(),
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr.decode()


def events_of(stack: Stack, run_id: str) -> list[dict[str, Any]]:
    response = stack.get(f"/api/v1/runs/{run_id}/events", timeout=5)
    events: list[dict[str, Any]] = response.json()["events"]
    return events


def test_a_blocked_image_is_explained_and_a_recorded_bypass_deploys_it(stack: Stack) -> None:
    key_id, secret = leaked_aws_key()
    leak = f"AWS_ACCESS_KEY_ID={key_id}\naws_secret_access_key = {secret}"
    push = stack.sample.append("account_service/app.txt", leak, "chore(account): debug")
    blocked = stack.wait_for_run(stack.push_webhook(push).json()["run_id"])
    assert blocked["status"] == "blocked", blocked
    scan_url = f"{stack.api}/api/v1/runs/{blocked['run_id']}/services/account-service/scan"

    summary = httpx.get(scan_url, headers=stack.auth, timeout=5).json()
    sarif = httpx.get(scan_url, headers=stack.auth, params={"format": "sarif"}, timeout=5)
    trivy = httpx.get(scan_url, headers=stack.auth, params={"format": "json"}, timeout=5)

    assert summary["outcome"] == "failed"
    assert summary["violations"] == ["4 secrets found (secrets always block)"]  # 2 files
    found = {f["id"] for f in summary["findings"]}
    assert found == {"aws-access-key-id", "aws-secret-access-key"}
    assert sarif.status_code == 200 and trivy.status_code == 200
    assert {r["ruleId"] for r in sarif.json()["runs"][0]["results"]} == found
    assert trivy.json()["ArtifactName"].endswith(blocked["services"]["account-service"]["digest"])
    for text in (json.dumps(summary), sarif.text, trivy.text):
        assert key_id not in text and secret not in text

    service = blocked["services"]["account-service"]
    repository, tag = service["image"].rsplit(":", 1)
    skip = ScanBypass(by="dana@acme.dev", reason="INC-4211: key revoked, hotfix must ship")
    manual_run = f"bypass-{secrets.token_hex(4)}"
    publish(
        stack,
        ImagePushed(
            run_id=manual_run,
            service="account-service",
            source=Source(repository=stack.sample.name, commit=push.after, ref="refs/heads/main"),
            image_repository=repository,
            tags=(tag,),
            digest=service["digest"],
            skip_scan=skip,
        ),
    )

    deployed = stack.wait_for_run(manual_run)
    assert deployed["status"] == "succeeded", deployed
    account = deployed["services"]["account-service"]
    # who skipped is the caller's token, whatever the event claimed; why is theirs
    recorded = ScanBypass(by="api-token-1", reason=skip.reason)
    assert (account["scan_skipped_by"], account["scan_skip_reason"]) == (
        recorded.by,
        recorded.reason,
    )
    manifest = stack.sample.remote_file("k8s/manifests/account-service/deployment.yaml")
    assert f"image: {service['image']}" in manifest
    [passed] = [e for e in events_of(stack, manual_run) if e["type"] == "ScanPassed"]
    assert passed["skipped"] == {"by": recorded.by, "reason": recorded.reason}
    note = stack.receiver.wait_for(lambda body: body.get("run_id") == manual_run)
    assert "scan SKIPPED by api-token-1: INC-4211" in note["text"]
    assert (
        stack.get(f"/api/v1/runs/{manual_run}/services/account-service/scan").json()["outcome"]
        == "skipped"
    )

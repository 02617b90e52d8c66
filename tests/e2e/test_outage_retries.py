"""A registry outage, as `shipline up` lives it: the build is retried for the configured
budget (a few seconds here, five minutes by default), then the service fails with a message
that names the command that republishes it; once the registry is back, that command
deploys."""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

from click.testing import CliRunner

from services.cli import main
from tests.stack import API_TOKEN, Stack, own_registry_stack

BUDGET = 6.0
COMMAND = re.compile(r"`(shipline publish --from-dead-letter builder-[0-9a-f]{16})`")


# A `shipline up` whose registry the tests stop and start, on a short budget.
outage_stack = own_registry_stack(BUDGET)


def retries_logged(stack: Stack, run_id: str) -> list[dict[str, Any]]:
    lines = stack.log_path.read_text(errors="replace").splitlines()
    entries = [json.loads(line) for line in lines if line.startswith("{") and run_id in line]
    return [e for e in entries if e.get("event") == "transient failure, retrying"]


def test_a_registry_outage_is_retried_for_the_budget_then_republished_by_the_named_command(
    outage_stack: Stack,
) -> None:
    stack = outage_stack
    push = stack.sample.append("user_service/app.txt", "Outage.", "feat(user): during an outage")
    stack.registry.stop()

    run_id = stack.push_webhook(push).json()["run_id"]
    failed = stack.wait_for_run(run_id)

    assert failed["status"] == "failed", failed
    reason = failed["services"]["user-service"]["reason"]
    assert "gave up after" in reason, reason
    retries = retries_logged(stack, run_id)
    assert len(retries) >= 3
    assert retries[-1]["failing_for"] >= BUDGET - 2.5  # the last retry comes near the end
    [command] = COMMAND.findall(reason)
    note = stack.receiver.wait_for(lambda body: body.get("run_id") == run_id)
    assert command in note["text"]

    stack.registry.restart()
    env = {"SHIPLINE_URL": stack.api, "SHIPLINE_TOKEN": API_TOKEN}
    republished = CliRunner().invoke(main, shlex.split(command)[1:], env=env)
    assert republished.exit_code == 0, republished.output

    run = stack.wait_for_run(run_id)
    assert run["status"] == "succeeded", run
    tag = f"sha-{push.after[:7]}"
    assert stack.registry.manifest_digest("microbank/user-service", tag) is not None
    manifest = stack.sample.remote_file("k8s/manifests/user-service/deployment.yaml")
    assert f"microbank/user-service:{tag}" in manifest

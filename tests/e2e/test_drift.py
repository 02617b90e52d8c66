"""Drift through `shipline up` (real Redis, dockerd, registry, Trivy, git): a service whose
newest build failed for good stays behind its default branch, and the API and
`shipline status` say by how much, since which commit, and why its last build failed."""

from __future__ import annotations

import re

from click.testing import CliRunner

from services.cli import main
from tests.stack import API_TOKEN, Stack


def test_a_build_broken_by_a_bad_dockerfile_leaves_the_service_behind_saying_why(
    stack: Stack,
) -> None:
    sample = stack.sample
    good = sample.append("account_service/app.txt", "Deployed first.", "feat(account): v2")
    stack.deploy(good)
    broken = sample.append("account_service/Dockerfile", "RUN exit 3", "build(account): broken")
    failed = stack.run_of(broken)
    assert failed["services"]["account-service"]["status"] == "failed", failed

    rows = {row["service"]: row for row in stack.get("/api/v1/services").json()["services"]}

    account = rows["account-service"]
    assert account["deployed_commit"] == good.after
    assert (account["desired_commit"], account["behind_by"]) == (broken.after, 1)
    drift = account["drift"]
    assert (drift["state"], drift["behind_by"], drift["since"]) == ("behind", 1, good.after[:7])
    assert drift["last_attempt"]["run_id"] == failed["run_id"]
    assert drift["last_attempt"]["status"] == "failed"
    reason = failed["services"]["account-service"]["reason"]
    assert drift["last_attempt"]["reason"] == reason and "exit" in reason
    assert drift["retry_at"] is None  # failed for good: only a new commit changes it
    assert rows["user-service"]["drift"]["state"] != "behind"

    env = {"SHIPLINE_URL": stack.api, "SHIPLINE_TOKEN": API_TOKEN}
    status = CliRunner().invoke(main, ["status"], env=env)
    assert status.exit_code == 0, status.output
    line = f"account-service: behind by 1 commit since {good.after[:7]}; last attempt failed: "
    assert re.search(rf"^{re.escape(line + reason.splitlines()[0])}$", status.output, re.M)

"""Events published by hand (`shipline publish`, POST /api/v1/events) as a user sends them to
a running `shipline up`: a redeploy of an older image deploys it, the run counts for its
service everywhere the service is shown, and a missing server is one line, not a traceback."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
from click.testing import CliRunner

from services.cli import main
from tests.stack import API_TOKEN, Stack

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
USER = "user-service"
MANIFEST = "k8s/manifests/user-service/deployment.yaml"


def shipline(stack: Stack, *args: str, stdin: str | None = None) -> tuple[int, str]:
    env = {"SHIPLINE_URL": stack.api, "SHIPLINE_TOKEN": API_TOKEN}
    result = CliRunner().invoke(main, list(args), env=env, input=stdin)
    return result.exit_code, result.output


def pushed_and_deployed(stack: Stack, line: str) -> dict[str, Any]:
    push = stack.sample.append("user_service/app.txt", line, f"feat(user): {line.lower()}")
    run = stack.wait_for_run(stack.push_webhook(push).json()["run_id"])
    assert run["status"] == "succeeded", run
    return run


def wait_until_held(stack: Stack, run_id: str, timeout: float = 240) -> dict[str, Any]:
    """tests/stack.py waits for runs that end in a deploy; a held one ends too."""
    deadline = time.monotonic() + timeout
    run: dict[str, Any] = {}
    while time.monotonic() < deadline:
        run = stack.get(f"/api/v1/runs/{run_id}", timeout=5).json()
        if run.get("status") == "held" and run.get("notified_at"):
            return run
        time.sleep(0.3)
    raise AssertionError(f"run {run_id} was not held: {run}")


def redeploy_event(stack: Stack, image: str, digest: str) -> dict[str, Any]:
    repository, tag = image.rsplit(":", 1)
    return {
        "type": "ImagePushed",
        "event_id": str(uuid.uuid4()),
        "run_id": f"hand-{uuid.uuid4().hex[:8]}",
        "service": USER,
        "source": {"repository": stack.sample.name, "commit": "0" * 40, "ref": "refs/heads/main"},
        "image_repository": repository,
        "tags": [tag],
        "digest": digest,
    }


def publish(stack: Stack, event: dict[str, Any]) -> dict[str, Any]:
    code, output = shipline(stack, "publish", "-o", "json", stdin=json.dumps(event))
    assert code == 0, output
    answer: dict[str, Any] = json.loads(output)
    return answer


def service_row(stack: Stack) -> dict[str, Any]:
    rows = stack.get("/api/v1/services", timeout=30).json()["services"]
    row: dict[str, Any] = next(r for r in rows if r["service"] == USER)
    return row


def test_a_hand_redeploy_of_an_older_image_deploys_it_though_a_newer_one_is_deployed(
    stack: Stack,
) -> None:
    older = pushed_and_deployed(stack, "Older.")["services"][USER]
    newer = pushed_and_deployed(stack, "Newer.")["services"][USER]
    assert f"image: {newer['image']}" in stack.sample.remote_file(MANIFEST)

    answer = publish(stack, redeploy_event(stack, older["image"], older["digest"]))

    run = stack.wait_for_run(answer["run_id"])
    assert run["status"] == "succeeded", run
    assert run["repository"] == stack.sample.name
    head = stack.sample.remote_head()
    assert head.hexsha == run["services"][USER]["gitops_commit"]
    assert f"image: {older['image']}" in stack.sample.remote_file(MANIFEST)


def test_after_unpin_a_hand_redeploy_is_the_services_last_run_in_status_and_the_api(
    stack: Stack,
) -> None:
    deployed = pushed_and_deployed(stack, "Before the rollback.")["services"][USER]
    rollback = httpx.post(
        f"{stack.api}/api/v1/rollbacks", json={"service": USER}, headers=AUTH, timeout=60
    )
    assert rollback.status_code == 202, rollback.text
    assert stack.wait_for_run(rollback.json()["run_id"])["status"] == "succeeded"
    push = stack.sample.append("user_service/app.txt", "Held back.", "feat(user): held back")
    wait_until_held(stack, stack.push_webhook(push).json()["run_id"])
    assert service_row(stack)["last_run"]["status"] == "held"

    assert shipline(stack, "unpin", USER)[0] == 0
    answer = publish(stack, redeploy_event(stack, deployed["image"], deployed["digest"]))
    run = stack.wait_for_run(answer["run_id"])

    assert run["status"] == "succeeded", run
    row = service_row(stack)
    assert row["last_run"]["run_id"] == answer["run_id"]
    assert row["last_run"]["status"] == "succeeded"
    assert not row["pinned"]
    assert row["image"] == deployed["image"]
    code, table = shipline(stack, "status")
    assert code == 0, table
    line = next(line for line in table.splitlines() if line.startswith(USER))
    assert answer["run_id"] in line and "succeeded" in line
    assert "held" not in line


def test_publish_without_a_reachable_server_is_one_line_not_a_traceback() -> None:
    env = {"SHIPLINE_URL": "http://127.0.0.1:9", "SHIPLINE_TOKEN": API_TOKEN}
    event = {"type": "BuildRequested", "run_id": "r-1", "repository": "demo/microbank"}
    event |= {"ref": "refs/heads/main", "services": ["user-service"]}

    result = CliRunner().invoke(main, ["publish"], env=env, input=json.dumps(event))

    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: cannot reach the Shipline API at http://127.0.0.1:9: ConnectError"
    ]


def test_publish_without_a_token_or_config_says_what_to_set() -> None:
    env = {"SHIPLINE_URL": None, "SHIPLINE_TOKEN": None, "SHIPLINE_CONFIG": None}

    result = CliRunner().invoke(main, ["publish"], env=env, input="{}")

    assert result.exit_code == 1
    [line] = result.output.strip().splitlines()
    assert line.startswith("Error: SHIPLINE_TOKEN is not set")

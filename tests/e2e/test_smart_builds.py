"""Smart builds in a running Shipline: another git host, a forced rebuild, a quiet branch."""

from __future__ import annotations

import json
from typing import Any

import httpx

from services.demo.scenario import Push
from tests.stack import API_TOKEN, WEBHOOK_SECRET, Stack


def gitlab_push(stack: Stack, push: Push) -> httpx.Response:
    body = {
        "object_kind": "push",
        "ref": push.ref,
        "before": push.before,
        "after": push.after,
        "user_username": "dana",
        "project": {"path_with_namespace": stack.sample.name},
        "commits": [],  # what the host lists does not matter: git decides
        "total_commits_count": 1,
    }
    headers = {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": WEBHOOK_SECRET}
    return httpx.post(
        f"{stack.api}/webhooks/gitlab", content=json.dumps(body), headers=headers, timeout=30
    )


def changes_of(stack: Stack, run_id: str) -> list[dict[str, Any]]:
    events = stack.get(f"/api/v1/runs/{run_id}/events", timeout=5).json()["events"]
    return [event for event in events if event["type"] == "ChangeDetected"]


def test_a_gitlab_push_hook_deploys_the_changed_service(stack: Stack) -> None:
    push = stack.sample.append("transaction_service/app.txt", "Faster.", "feat(tx): faster")

    response = gitlab_push(stack, push)

    assert response.status_code == 202, response.text
    run = stack.wait_for_run(response.json()["run_id"])
    assert run["status"] == "succeeded", run
    assert (run["provider"], set(run["services"])) == ("gitlab", {"transaction-service"})
    [change] = changes_of(stack, run["run_id"])
    assert change["changed_paths"] == ["transaction_service/app.txt"]


def test_a_forced_rebuild_deploys_a_service_in_which_nothing_changed(stack: Stack) -> None:
    head = stack.sample.remote_head().hexsha

    response = httpx.post(
        f"{stack.api}/api/v1/builds",
        json={
            "repository": stack.sample.name,
            "ref": "refs/heads/main",
            "services": ["notification-service"],
        },
        headers={"Authorization": f"Bearer {API_TOKEN}"},
        timeout=30,
    )

    assert response.status_code == 202, response.text
    run = stack.wait_for_run(response.json()["run_id"])
    assert run["status"] == "succeeded", run
    assert set(run["services"]) == {"notification-service"}
    [change] = changes_of(stack, run["run_id"])
    assert change["reason"] == "forced"
    assert change["source"]["commit"] == head
    image = run["services"]["notification-service"]["image"]
    assert image.endswith(f":sha-{head[:7]}")


def test_a_forced_rebuild_without_a_token_is_refused(stack: Stack) -> None:
    response = httpx.post(
        f"{stack.api}/api/v1/builds",
        json={"repository": stack.sample.name, "ref": "refs/heads/main", "services": ["x"]},
        timeout=30,
    )

    assert response.status_code == 401


def test_a_push_to_a_branch_that_does_not_deploy_starts_nothing(stack: Stack) -> None:
    head = stack.sample.remote_head().hexsha
    runs_before = stack.redis.zcard("shipline:runs")

    response = stack.push_webhook(Push(before=head, after=head, ref="refs/heads/feature/x"))

    assert response.status_code == 202
    assert "not configured to deploy" in response.json()["ignored"]
    assert stack.redis.zcard("shipline:runs") == runs_before

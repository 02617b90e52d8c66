"""What a running `shipline up` writes to its log: nothing to worry about at a normal start,
and one line for each webhook it refuses, never the secret, the signature or the body."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx

from services.demo.scenario import send_github_push
from services.gateway.github import sign
from tests.stack import WEBHOOK_SECRET, Stack

BODY_MARKER = "body-marker-that-must-not-be-logged"


def log_lines(stack: Stack) -> list[str]:
    return stack.log_path.read_text(errors="replace").splitlines()


def refusal_logged(stack: Stack, delivery: str, timeout: float = 10) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in log_lines(stack):
            if delivery in line and "webhook rejected" in line:
                entry: dict[str, Any] = json.loads(line)
                return entry
        time.sleep(0.2)
    raise AssertionError(f"no 'webhook rejected' line for {delivery}")


def payload(stack: Stack, repository: str) -> bytes:
    push = {
        "ref": "refs/heads/main",
        "before": "1" * 40,
        "after": "2" * 40,
        "repository": {"full_name": repository},
        "commits": [{"id": "2" * 40, "message": BODY_MARKER}],
    }
    return json.dumps(push).encode()


def test_a_normal_start_logs_no_warning(stack: Stack) -> None:
    started = log_lines(stack)

    warnings = [line for line in started if "warning" in line.lower()]

    assert started, "shipline up wrote nothing"
    assert warnings == []


def test_a_bad_signature_leaves_one_line_with_why_the_delivery_and_the_client(
    stack: Stack,
) -> None:
    delivery = f"bad-signature-{uuid.uuid4().hex[:8]}"
    body = payload(stack, stack.sample.name)
    forged = sign("not-the-secret-0123456789", body)

    response = httpx.post(
        f"{stack.api}/webhooks/github",
        content=body,
        headers={
            "X-GitHub-Event": "push",
            "X-GitHub-Delivery": delivery,
            "X-Hub-Signature-256": forged,
        },
        timeout=30,
    )

    assert response.status_code == 401
    entry = refusal_logged(stack, delivery)
    assert entry["level"] == "warning"
    assert entry["status"] == 401
    assert entry["reason"] == "missing or invalid X-Hub-Signature-256"
    assert entry["provider"] == "github"
    assert entry["delivery"] == delivery
    assert entry["client"] == "127.0.0.1"
    assert entry["repository"] is None  # an unverified body is never read
    log = stack.log_path.read_text(errors="replace")
    assert [line for line in log.splitlines() if delivery in line] == [json.dumps(entry)]
    assert forged.removeprefix("sha256=") not in log
    assert BODY_MARKER not in log
    assert WEBHOOK_SECRET not in log


def test_a_push_for_a_repository_the_secret_does_not_belong_to_is_logged_with_its_name(
    stack: Stack,
) -> None:
    delivery = f"other-repository-{uuid.uuid4().hex[:8]}"

    response = send_github_push(stack.api, WEBHOOK_SECRET, payload(stack, "someone/else"), delivery)

    assert response.status_code == 403
    entry = refusal_logged(stack, delivery)
    assert entry["status"] == 403
    assert entry["repository"] == "someone/else"
    assert entry["reason"] == "repository someone/else does not use this secret"
    log = stack.log_path.read_text(errors="replace")
    assert BODY_MARKER not in log
    assert WEBHOOK_SECRET not in log


def test_a_wrong_gitlab_token_is_logged_without_the_token(stack: Stack) -> None:
    delivery = str(uuid.uuid4())
    token = "wrong-gitlab-token-0123456789"

    response = httpx.post(
        f"{stack.api}/webhooks/gitlab",
        content=b'{"object_kind": "push"}',
        headers={
            "X-Gitlab-Event": "Push Hook",
            "X-Gitlab-Event-UUID": delivery,
            "X-Gitlab-Token": token,
        },
        timeout=30,
    )

    assert response.status_code == 401
    entry = refusal_logged(stack, delivery)
    assert entry["provider"] == "gitlab"
    assert entry["reason"] == "missing or invalid X-Gitlab-Token"
    assert token not in stack.log_path.read_text(errors="replace")

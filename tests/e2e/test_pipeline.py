"""A git push through the whole pipeline, on real Redis, dockerd, registry, Trivy and git."""

from __future__ import annotations

import secrets
import string

import httpx

from tests.stack import Stack


def test_signed_push_deploys_only_the_changed_service_and_notifies(stack: Stack) -> None:
    sample = stack.sample
    push = sample.append("user_service/app.txt", "Payee names shown.", "feat(user): payee names")

    response = stack.push_webhook(push)

    assert response.status_code == 202, response.text
    run_id = response.json()["run_id"]
    run = stack.wait_for_run(run_id)
    assert run["status"] == "succeeded", run
    assert set(run["services"]) == {"user-service"}
    service = run["services"]["user-service"]
    tag = f"sha-{push.after[:7]}"
    expected_image = f"{stack.registry.host}/microbank/user-service:{tag}"
    assert service["status"] == "succeeded"
    assert service["image"] == expected_image
    assert service["digest"] == stack.registry.manifest_digest("microbank/user-service", tag)
    assert stack.registry.manifest_digest("microbank/user-service", "latest") == service["digest"]
    labels = stack.registry.config_labels("microbank/user-service", tag)
    assert labels["org.opencontainers.image.revision"] == push.after
    assert stack.registry.manifest_digest("microbank/account-service", tag) is None
    for stage in ("detector", "builder", "scanner", "committer"):
        assert service["timings"][stage]["seconds"] >= 0, stage

    head = sample.remote_head()
    assert head.hexsha == service["gitops_commit"]
    subject = head.message.splitlines()[0]
    assert subject == f"chore(user-service): deploy {expected_image} [skip ci]"
    assert head.author_email == "shipline-bot@localhost"
    manifest = sample.remote_file("k8s/manifests/user-service/deployment.yaml")
    assert f"image: {expected_image}" in manifest
    untouched = sample.remote_file("k8s/manifests/account-service/deployment.yaml")
    assert untouched == sample.remote_file(
        "k8s/manifests/account-service/deployment.yaml", ref=push.after
    )

    note = stack.receiver.wait_for(lambda body: body.get("run_id") == run_id)
    assert note["status"] == "succeeded"
    assert expected_image in note["text"]


def test_the_pipelines_own_commit_does_not_start_another_build(stack: Stack) -> None:
    from services.demo.scenario import Push

    head = stack.sample.remote_head()
    bot_push = Push(before=head.parents[0], after=head.hexsha)

    response = stack.push_webhook(bot_push)

    run = stack.wait_for_run(response.json()["run_id"])
    assert run["status"] == "skipped"
    assert run["services"] == {}


def test_image_with_a_baked_in_aws_key_is_blocked_and_never_deployed(stack: Stack) -> None:
    sample = stack.sample
    key_id = "AKIA" + "".join(secrets.choice(string.ascii_uppercase + "234567") for _ in range(16))
    secret = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(40))
    leak = f"AWS_ACCESS_KEY_ID={key_id}\naws_secret_access_key = {secret}"
    push = sample.append("account_service/app.txt", leak, "chore(account): debug settings")
    head_before = sample.remote_head().hexsha

    response = stack.push_webhook(push)

    run = stack.wait_for_run(response.json()["run_id"])
    assert run["status"] == "blocked", run
    service = run["services"]["account-service"]
    assert service["status"] == "blocked"
    assert "aws-access-key-id" in service["reason"]
    assert sample.remote_head().hexsha == head_before == push.after
    manifest = sample.remote_file("k8s/manifests/account-service/deployment.yaml")
    assert f"sha-{push.after[:7]}" not in manifest
    note = stack.receiver.wait_for(lambda body: body.get("run_id") == run["run_id"])
    assert note["status"] == "blocked"
    assert "aws-access-key-id" in note["text"]
    assert secret not in note["text"] and key_id not in note["text"]


def test_redelivered_webhook_returns_the_same_run_and_builds_nothing_new(stack: Stack) -> None:
    push = stack.sample.append("frontend/app.txt", "Dark mode.", "feat(frontend): dark mode")
    first = stack.push_webhook(push, delivery="delivery-frontend-1")
    run = stack.wait_for_run(first.json()["run_id"])
    commits_after_first = stack.sample.remote_head().hexsha

    again = stack.push_webhook(push, delivery="delivery-frontend-1")

    assert again.status_code == 200
    assert again.json() == {"run_id": run["run_id"], "duplicate": True}
    assert stack.sample.remote_head().hexsha == commits_after_first
    bodies = [b for b in stack.receiver.received if b.get("run_id") == run["run_id"]]
    assert len(bodies) == 1


def test_bad_signature_is_refused_and_nothing_is_queued(stack: Stack) -> None:
    push = stack.sample.append("user_service/app.txt", "Unsigned.", "feat(user): unsigned")
    body = stack.sample.github_payload(push)
    runs_before = stack.redis.zcard("shipline:runs")
    events_before = stack.redis.xlen("shipline:events")

    response = httpx.post(
        f"{stack.api}/webhooks/github",
        content=body,
        headers={
            "X-GitHub-Event": "push",
            "X-GitHub-Delivery": "forged-1",
            "X-Hub-Signature-256": "sha256=" + "0" * 64,
        },
    )

    assert response.status_code == 401
    assert "signature" in response.json()["detail"].lower()
    assert stack.redis.zcard("shipline:runs") == runs_before
    assert stack.redis.xlen("shipline:events") == events_before

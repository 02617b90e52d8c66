"""The detector's shipline.yaml checks through the running stack, after a push that was
checked clean: an ordinary push deleting what shipline.yaml names still fails the run
(only what the push could have broken is checked again)."""

from __future__ import annotations

import git
import httpx

from services.common.keyspace import DEFAULT_KEYSPACE
from services.demo.scenario import Push
from tests.stack import API_TOKEN, Stack


def delete(stack: Stack, path: str, message: str) -> Push:
    sample = stack.sample
    sample.pull()
    with git.Repo(sample.clone) as repo:
        before = repo.head.commit.hexsha
        repo.index.remove([path], working_tree=True)
        repo.index.commit(message)
        repo.git.push("origin", "HEAD:refs/heads/main")
        return Push(before, repo.head.commit.hexsha)


def test_deleting_a_dockerfile_after_a_push_checked_clean_fails_the_run_saying_which(
    stack: Stack,
) -> None:
    notes = stack.sample.change("docs/notes.txt", "notes\n", "docs: notes")
    skipped = stack.wait_for_run(stack.push_webhook(notes).json()["run_id"])
    assert skipped["status"] == "skipped", skipped
    assert stack.redis.exists(DEFAULT_KEYSPACE.project_checked(stack.sample.name, notes.after))

    gone = delete(stack, "user_service/Dockerfile", "build: drop the Dockerfile")
    response = stack.push_webhook(gone)
    run = stack.wait_for_run(response.json()["run_id"])

    assert run["status"] == "failed", run
    assert run["services"] == {}
    url = f"{stack.api}/api/v1/runs/{response.json()['run_id']}"
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    failure = httpx.get(url, headers=headers, timeout=10).json()["failure"]
    assert failure.startswith(
        f"detector: ShiplineYamlMismatch: shipline.yaml does not fit commit {gone.after[:7]}"
    )
    assert any(
        line.startswith(
            "shipline.yaml: services.user-service.dockerfile: "
            "'user_service/Dockerfile' does not exist"
        )
        for line in failure.splitlines()
    ), failure
    assert not stack.redis.exists(DEFAULT_KEYSPACE.project_checked(stack.sample.name, gone.after))
